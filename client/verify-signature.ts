/**
 * Verifies a request from discord-gateway-do signed with your `webhookSecret`.
 * Works in Workers, Node 18+, Deno and Bun (Web Crypto). Pass the raw body exactly as received.
 *
 *   const body = await request.text();
 *   if (!(await verifyGatewaySignature(request.headers, body, env.WEBHOOK_SECRET))) {
 *     return new Response("bad signature", { status: 401 });
 *   }
 */
export async function verifyGatewaySignature(
  headers: Headers,
  body: string,
  secret: string,
  maxAgeMs = 5 * 60 * 1000,
): Promise<boolean> {
  const timestamp = headers.get("x-discord-gateway-timestamp");
  const signature = headers.get("x-discord-gateway-signature");
  if (!timestamp || !signature || !/^\d+$/.test(timestamp)) return false;
  if (Math.abs(Date.now() - Number(timestamp)) > maxAgeMs) return false; // a replayed request
  const encoder = new TextEncoder();
  const key = await crypto.subtle.importKey(
    "raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"],
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(`${timestamp}.${body}`)));
  const expected = Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
  // Constant-time comparison.
  let diff = expected.length ^ signature.length;
  for (let i = 0; i < expected.length; i++) diff |= expected.charCodeAt(i) ^ (signature.charCodeAt(i) || 0);
  return diff === 0;
}
