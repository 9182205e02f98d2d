//! Which webhook URLs events may be delivered to.
//!
//! Events carry message contents and the request carries a token, so the webhook must be
//! reached over HTTPS, must not hide credentials in the URL, and must not point into private,
//! loopback or otherwise non-public address space. [`validate_webhook_url`] enforces that on the
//! URL alone. It cannot see where a domain name resolves to; on Cloudflare Workers, outbound
//! `fetch` does not reach private networks anyway.
//!
//! For local development, `allow_insecure` admits `http` and loopback hosts (`127.0.0.0/8`,
//! `::1`, `localhost`, `*.localhost`). Private and link-local ranges stay rejected.

use std::{
    error::Error,
    fmt,
    net::{Ipv4Addr, Ipv6Addr},
    ops::Range,
};

use url::{Host, Url};

/// Longest accepted webhook URL, in bytes, before and after normalization.
pub const MAX_WEBHOOK_URL_LEN: usize = 2048;

/// A webhook URL that passed [`validate_webhook_url`], in normalized form.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WebhookUrl(String);

impl WebhookUrl {
    /// The normalized URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The normalized URL, as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl AsRef<str> for WebhookUrl {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<WebhookUrl> for String {
    fn from(url: WebhookUrl) -> Self {
        url.0
    }
}

/// Why a host may not receive webhooks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostRestriction {
    /// `127.0.0.0/8`, `::1`, `localhost`, `*.localhost`: this machine.
    Loopback,
    /// `*.local`, `*.internal`, `*.home.arpa`: names that only resolve on a local network.
    LocalName,
    /// `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16`, `fc00::/7` (unique local), `fec0::/10`
    /// (site-local), `64:ff9b:1::/48` (local-use NAT64).
    Private,
    /// `169.254.0.0/16`, `fe80::/10`.
    LinkLocal,
    /// `0.0.0.0/8`, `::`: "this network", not a destination.
    ThisNetwork,
    /// `100.64.0.0/10`: carrier-grade NAT.
    SharedAddressSpace,
    /// `192.0.0.0/24`: IETF protocol assignments.
    ProtocolAssignment,
    /// `198.18.0.0/15`, `2001:2::/48`: benchmarking.
    Benchmarking,
    /// `192.0.2.0/24`, `198.51.100.0/24`, `203.0.113.0/24`, `2001:db8::/32`, `3fff::/20`.
    Documentation,
    /// `224.0.0.0/4`, `ff00::/8`.
    Multicast,
    /// `240.0.0.0/4`, `192.88.99.0/24`, `100::/64`, and the rest of `::/8`.
    Reserved,
    /// `255.255.255.255`.
    Broadcast,
}

impl fmt::Display for HostRestriction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Loopback => "a loopback address",
            Self::LocalName => "a local network name",
            Self::Private => "a private address",
            Self::LinkLocal => "a link-local address",
            Self::ThisNetwork => "an unspecified (\"this network\") address",
            Self::SharedAddressSpace => "a shared (carrier-grade NAT) address",
            Self::ProtocolAssignment => "an IETF protocol assignment address",
            Self::Benchmarking => "a benchmarking address",
            Self::Documentation => "a documentation address",
            Self::Multicast => "a multicast address",
            Self::Reserved => "a reserved address",
            Self::Broadcast => "the broadcast address",
        })
    }
}

/// Why a webhook URL was rejected.
///
/// Messages name the rule that failed and never repeat credentials, paths or queries from the
/// URL.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebhookUrlError {
    /// The URL is longer than [`MAX_WEBHOOK_URL_LEN`].
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The URL does not parse as an absolute URL.
    Malformed(url::ParseError),
    /// The host is an internationalized domain name written in Unicode. Only ASCII hosts are
    /// accepted (the Wasm build leaves out IDNA's Unicode tables): write it in its punycode
    /// (`xn--`) form.
    NonAsciiHost,
    /// The URL uses `http` while insecure webhooks are not allowed.
    InsecureScheme,
    /// The URL uses a scheme other than `https` or `http`.
    UnsupportedScheme {
        /// The scheme, lowercased.
        scheme: String,
    },
    /// The URL contains a user name or password.
    Credentials,
    /// The URL contains a fragment (`#...`).
    Fragment,
    /// The URL has no host.
    MissingHost,
    /// The host name has an empty label (`a..b`, `.a`, more than one trailing dot) or a label
    /// longer than 63 characters.
    InvalidHostName {
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// The URL names port 0, which nothing listens on.
    PortZero,
    /// The host may not receive webhooks.
    ForbiddenHost {
        /// The host, as normalized (IPv6 addresses in brackets).
        host: String,
        /// Why it may not.
        restriction: HostRestriction,
    },
}

impl fmt::Display for WebhookUrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong { len } => write!(
                f,
                "webhookUrl is too long ({len} bytes; at most {MAX_WEBHOOK_URL_LEN})"
            ),
            Self::Malformed(error) => write!(f, "webhookUrl is not a valid absolute URL: {error}"),
            Self::NonAsciiHost => f.write_str(
                "webhookUrl host is not ASCII: write an internationalized domain name in its \
                 punycode form (xn--..., e.g. https://xn--caf-dma.example/ for café.example)",
            ),
            Self::InsecureScheme => f.write_str(
                "webhookUrl must use https (set ALLOW_INSECURE_WEBHOOKS=true to allow http for \
                 local development)",
            ),
            Self::UnsupportedScheme { scheme } => {
                write!(f, "webhookUrl must use https, not {scheme}")
            }
            Self::Credentials => {
                f.write_str("webhookUrl must not contain credentials (user:password@)")
            }
            Self::Fragment => f.write_str("webhookUrl must not contain a fragment (#...)"),
            Self::MissingHost => f.write_str("webhookUrl must have a host"),
            Self::InvalidHostName { reason } => write!(f, "webhookUrl host {reason}"),
            Self::PortZero => f.write_str("webhookUrl must not use port 0"),
            Self::ForbiddenHost { host, restriction } => {
                write!(f, "webhookUrl host {host} is {restriction}")?;
                if *restriction == HostRestriction::Loopback {
                    f.write_str(
                        " (set ALLOW_INSECURE_WEBHOOKS=true to allow it for local development)",
                    )?;
                }
                Ok(())
            }
        }
    }
}

impl Error for WebhookUrlError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::Malformed(error) => Some(error),
            _ => None,
        }
    }
}

/// Checks that `url` may receive webhooks and returns it normalized.
///
/// Requires an absolute `https` URL (or `http` when `allow_insecure`) of at most
/// [`MAX_WEBHOOK_URL_LEN`] bytes, without credentials or fragment, whose host is neither a
/// local network name nor an address outside public unicast space (see [`HostRestriction`]).
/// IP addresses are checked after normalization, so spellings like `http://2130706433/` or
/// `http://0x7f.1/` are recognized as `127.0.0.1`, and IPv6 addresses that embed an IPv4 one
/// (IPv4-mapped, NAT64, 6to4, Teredo) are judged by it. Loopback hosts pass only when
/// `allow_insecure`. The host must be written in ASCII and not percent-encoded: an
/// internationalized name in its punycode (`xn--`) form ([`WebhookUrlError::NonAsciiHost`]).
///
/// # Errors
///
/// The first rule the URL breaks, as a [`WebhookUrlError`].
pub fn validate_webhook_url(
    url: &str,
    allow_insecure: bool,
) -> Result<WebhookUrl, WebhookUrlError> {
    if url.len() > MAX_WEBHOOK_URL_LEN {
        return Err(WebhookUrlError::TooLong { len: url.len() });
    }
    // `idna` runs without Unicode tables (issue 9, `idna_adapter` 1.0): a host written in Unicode
    // is refused here with a message that says what to write instead, a percent-encoded one
    // (which would decode to anything) too, and the host's ASCII letters are lowercased before
    // parsing, which the table-less `idna` expects of the labels it maps.
    let host = written_host(url);
    let written = &url[host.clone()];
    if !written.is_ascii() {
        return Err(WebhookUrlError::NonAsciiHost);
    }
    if written.contains('%') {
        return Err(WebhookUrlError::InvalidHostName {
            reason: "is percent-encoded: write it as is (an internationalized name in its punycode form, xn--...)",
        });
    }
    let lowered;
    let url = if written.bytes().any(|b| b.is_ascii_uppercase()) {
        lowered = format!(
            "{}{}{}",
            &url[..host.start],
            written.to_ascii_lowercase(),
            &url[host.end..]
        );
        lowered.as_str()
    } else {
        url
    };
    let parsed = Url::parse(url).map_err(WebhookUrlError::Malformed)?;

    match parsed.scheme() {
        "https" => {}
        "http" if allow_insecure => {}
        "http" => return Err(WebhookUrlError::InsecureScheme),
        other => {
            return Err(WebhookUrlError::UnsupportedScheme {
                scheme: other.to_owned(),
            })
        }
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(WebhookUrlError::Credentials);
    }
    if parsed.fragment().is_some() {
        return Err(WebhookUrlError::Fragment);
    }

    if parsed.port() == Some(0) {
        return Err(WebhookUrlError::PortZero);
    }
    let restriction = match parsed.host() {
        None => return Err(WebhookUrlError::MissingHost),
        Some(Host::Domain("")) => return Err(WebhookUrlError::MissingHost),
        Some(Host::Domain(domain)) => {
            check_labels(domain)?;
            domain_restriction(domain)
        }
        Some(Host::Ipv4(ip)) => ipv4_restriction(ip),
        Some(Host::Ipv6(ip)) => ipv6_restriction(ip),
    };
    match restriction {
        None => {}
        Some(HostRestriction::Loopback) if allow_insecure => {}
        Some(restriction) => {
            return Err(WebhookUrlError::ForbiddenHost {
                host: parsed.host_str().unwrap_or_default().to_owned(),
                restriction,
            })
        }
    }

    let normalized = String::from(parsed);
    if normalized.len() > MAX_WEBHOOK_URL_LEN {
        return Err(WebhookUrlError::TooLong {
            len: normalized.len(),
        });
    }
    Ok(WebhookUrl(normalized))
}

/// Where the host of `url` is written (with its port, if any): after `scheme:` and its slashes
/// and any `user@`, up to the path, query or fragment; empty when `url` has no authority.
fn written_host(url: &str) -> Range<usize> {
    let Some(colon) = url.find(':') else {
        return 0..0;
    };
    let rest = &url[colon + 1..];
    let slashes = rest.len() - rest.trim_start_matches(['/', '\\', '\t', '\n', '\r']).len();
    if slashes == 0 {
        return 0..0;
    }
    let start = colon + 1 + slashes;
    let end = url[start..]
        .find(['/', '\\', '?', '#'])
        .map_or(url.len(), |at| start + at);
    let host_start = url[start..end]
        .rfind('@')
        .map_or(start, |at| start + at + 1);
    host_start..end
}

/// Whether `name` is `zone` or a name under it. Both are lowercase, without a trailing dot.
fn is_in_zone(name: &str, zone: &str) -> bool {
    name.strip_suffix(zone)
        .is_some_and(|rest| rest.is_empty() || rest.ends_with('.'))
}

/// Longest label of a domain name (RFC 1035).
const MAX_LABEL_LEN: usize = 63;

/// Refuses a domain name with an empty label or a label over [`MAX_LABEL_LEN`]; one trailing
/// dot (the root) is allowed. Without this, `localhost..` would not be recognized as localhost.
fn check_labels(domain: &str) -> Result<(), WebhookUrlError> {
    let name = domain.strip_suffix('.').unwrap_or(domain);
    for label in name.split('.') {
        if label.is_empty() {
            return Err(WebhookUrlError::InvalidHostName {
                reason: "has an empty label (two dots in a row, a leading dot, or more than one trailing dot)",
            });
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(WebhookUrlError::InvalidHostName {
                reason: "has a label longer than 63 characters",
            });
        }
    }
    Ok(())
}

/// The restriction on a domain name, as the URL parser normalized it (lowercase, punycode), with
/// valid labels (see [`check_labels`]).
fn domain_restriction(domain: &str) -> Option<HostRestriction> {
    let name = domain.strip_suffix('.').unwrap_or(domain);
    if is_in_zone(name, "localhost") {
        Some(HostRestriction::Loopback)
    } else if ["local", "internal", "home.arpa"]
        .iter()
        .any(|zone| is_in_zone(name, zone))
    {
        Some(HostRestriction::LocalName)
    } else {
        None
    }
}

/// The restriction on an IPv4 address, if it is not public unicast.
fn ipv4_restriction(ip: Ipv4Addr) -> Option<HostRestriction> {
    use HostRestriction::*;
    Some(match ip.octets() {
        [0, ..] => ThisNetwork,
        [10, ..] => Private,
        [100, b, ..] if b & 0xc0 == 64 => SharedAddressSpace,
        [127, ..] => Loopback,
        [169, 254, ..] => LinkLocal,
        [172, b, ..] if b & 0xf0 == 16 => Private,
        [192, 0, 0, _] => ProtocolAssignment,
        [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => Documentation,
        // Formerly the 6to4 relay anycast prefix (RFC 7526).
        [192, 88, 99, _] => Reserved,
        [192, 168, ..] => Private,
        [198, b, ..] if b & 0xfe == 18 => Benchmarking,
        [255, 255, 255, 255] => Broadcast,
        [a, ..] if a & 0xf0 == 224 => Multicast,
        [a, ..] if a & 0xf0 == 240 => Reserved,
        _ => return None,
    })
}

/// The IPv4 address in two 16-bit segments.
fn ipv4_from_segments(high: u16, low: u16) -> Ipv4Addr {
    Ipv4Addr::from((u32::from(high) << 16) | u32::from(low))
}

/// The restriction on an IPv6 address, if it is not public unicast.
fn ipv6_restriction(ip: Ipv6Addr) -> Option<HostRestriction> {
    use HostRestriction::*;
    if ip.is_unspecified() {
        return Some(ThisNetwork);
    }
    if ip.is_loopback() {
        return Some(Loopback);
    }
    if let Some(v4) = ip.to_ipv4_mapped() {
        return ipv4_restriction(v4);
    }
    match ip.segments() {
        // NAT64, well-known prefix (RFC 6052).
        [0x64, 0xff9b, 0, 0, 0, 0, high, low] => ipv4_restriction(ipv4_from_segments(high, low)),
        // NAT64, local-use prefix (RFC 8215).
        [0x64, 0xff9b, 1, ..] => Some(Private),
        // 6to4 (RFC 3056): the relay's IPv4 address follows the prefix.
        [0x2002, high, low, ..] => ipv4_restriction(ipv4_from_segments(high, low)),
        // Teredo (RFC 4380): the client's IPv4 address, bits inverted, ends the address.
        [0x2001, 0, _, _, _, _, high, low] => ipv4_restriction(ipv4_from_segments(!high, !low)),
        [0x2001, 0x2, 0, ..] => Some(Benchmarking),
        [0x2001, 0xdb8, ..] => Some(Documentation),
        [0x3fff, b, ..] if b < 0x1000 => Some(Documentation),
        [0x100, 0, 0, 0, ..] => Some(Reserved),
        [a, ..] if a & 0xfe00 == 0xfc00 => Some(Private),
        [a, ..] if a & 0xffc0 == 0xfe80 => Some(LinkLocal),
        [a, ..] if a & 0xffc0 == 0xfec0 => Some(Private),
        [a, ..] if a & 0xff00 == 0xff00 => Some(Multicast),
        // The rest of ::/8, including deprecated IPv4-compatible addresses.
        [a, ..] if a & 0xff00 == 0 => Some(Reserved),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use HostRestriction::*;

    fn forbidden(
        host: &str,
        restriction: HostRestriction,
    ) -> Result<&'static str, WebhookUrlError> {
        Err(WebhookUrlError::ForbiddenHost {
            host: host.to_owned(),
            restriction,
        })
    }

    #[test]
    fn accepts_public_https_urls_and_normalizes_them() {
        for (input, normalized) in [
            ("https://example.com/hook", "https://example.com/hook"),
            ("https://example.com", "https://example.com/"),
            (
                "HTTPS://Example.COM:443/Hook?a=1&b",
                "https://example.com/Hook?a=1&b",
            ),
            (
                "https://example.com:8443/api/webhooks/discord",
                "https://example.com:8443/api/webhooks/discord",
            ),
            ("  https://example.com/x  ", "https://example.com/x"),
            // Issue 9: an internationalized name in its punycode form (in Unicode it is refused,
            // `issue9_idna_non_ascii_host_is_refused_with_punycode_hint`).
            (
                "https://xn--bcher-kva.example/x",
                "https://xn--bcher-kva.example/x",
            ),
            ("https://example.com/a b", "https://example.com/a%20b"),
            ("https://8.8.8.8/hook", "https://8.8.8.8/hook"),
            (
                "https://[2606:4700::1111]/hook",
                "https://[2606:4700::1111]/hook",
            ),
            ("https://[::ffff:8.8.8.8]/", "https://[::ffff:808:808]/"),
            ("https://[2002:808:808::1]/", "https://[2002:808:808::1]/"),
            ("https://[64:ff9b::808:808]/", "https://[64:ff9b::808:808]/"),
            // Names that merely contain a restricted word.
            (
                "https://localhost.example.com/",
                "https://localhost.example.com/",
            ),
            ("https://mylocal/", "https://mylocal/"),
            ("https://notlocalhost/", "https://notlocalhost/"),
            (
                "https://internal.example.com/",
                "https://internal.example.com/",
            ),
            // Just outside restricted ranges.
            ("https://172.32.0.1/", "https://172.32.0.1/"),
            ("https://100.128.0.1/", "https://100.128.0.1/"),
            ("https://198.20.0.1/", "https://198.20.0.1/"),
            ("https://223.255.255.255/", "https://223.255.255.255/"),
            ("https://11.0.0.1/", "https://11.0.0.1/"),
        ] {
            for allow_insecure in [false, true] {
                assert_eq!(
                    validate_webhook_url(input, allow_insecure).map(WebhookUrl::into_string),
                    Ok(normalized.to_owned()),
                    "{input}"
                );
            }
        }
    }

    /// Issue 9, IDNA lever: the Wasm ships `idna_adapter` 1.0 (no Unicode tables), so a host
    /// written in Unicode is refused with a message that says to use its punycode form, and the
    /// punycode form passes unchanged.
    #[test]
    fn issue9_idna_non_ascii_host_is_refused_with_punycode_hint() {
        for input in [
            "https://café.example/hook",
            "https://CAFÉ.example/hook",
            "https://user@bücher.example:8443/hook?x=1",
            "https://例え.テスト/",
        ] {
            let error = validate_webhook_url(input, false).unwrap_err();
            assert_eq!(error, WebhookUrlError::NonAsciiHost, "{input}");
            let message = error.to_string();
            assert!(
                message.starts_with("webhookUrl host is not ASCII"),
                "{message}"
            );
            assert!(
                message.contains("punycode") && message.contains("xn--"),
                "{message}"
            );
        }
        for (input, normalized) in [
            (
                "https://xn--caf-dma.example/hook",
                "https://xn--caf-dma.example/hook",
            ),
            (
                "https://XN--CAF-DMA.Example/hook",
                "https://xn--caf-dma.example/hook",
            ),
            // Unicode in the path or query is not the host's business: it is percent-encoded.
            (
                "https://example.com/café?q=é",
                "https://example.com/caf%C3%A9?q=%C3%A9",
            ),
        ] {
            assert_eq!(
                validate_webhook_url(input, false).map(WebhookUrl::into_string),
                Ok(normalized.to_owned()),
                "{input}"
            );
        }
        // An ASCII host that is not a valid name stays "malformed", not "non-ASCII".
        assert_eq!(
            validate_webhook_url("https://exa mple.com/café", false),
            Err(WebhookUrlError::Malformed(url::ParseError::IdnaError))
        );
        // A percent-encoded host would decode to Unicode (or to capitals) behind the check.
        for input in [
            "https://caf%C3%A9.example/",
            "https://%58N--CAF-DMA.example/",
        ] {
            assert!(
                matches!(
                    validate_webhook_url(input, false),
                    Err(WebhookUrlError::InvalidHostName { reason }) if reason.contains("percent-encoded")
                ),
                "{input}"
            );
        }
        // No authority, no host to look at: the usual rules answer.
        assert_eq!(
            validate_webhook_url("mailto:café@example.com", false),
            Err(WebhookUrlError::UnsupportedScheme {
                scheme: "mailto".into()
            })
        );
    }

    #[test]
    fn url_rules() {
        use WebhookUrlError::*;
        let cases: &[(&str, bool, Result<&str, WebhookUrlError>)] = &[
            ("http://example.com/", false, Err(InsecureScheme)),
            ("http://example.com/", true, Ok("http://example.com/")),
            (
                "ftp://example.com/",
                false,
                Err(UnsupportedScheme {
                    scheme: "ftp".into(),
                }),
            ),
            (
                "ws://example.com/",
                true,
                Err(UnsupportedScheme {
                    scheme: "ws".into(),
                }),
            ),
            (
                "javascript:alert(1)",
                true,
                Err(UnsupportedScheme {
                    scheme: "javascript".into(),
                }),
            ),
            (
                "file:///etc/passwd",
                true,
                Err(UnsupportedScheme {
                    scheme: "file".into(),
                }),
            ),
            (
                "example.com/hook",
                false,
                Err(Malformed(url::ParseError::RelativeUrlWithoutBase)),
            ),
            (
                "",
                false,
                Err(Malformed(url::ParseError::RelativeUrlWithoutBase)),
            ),
            (
                "https://",
                false,
                Err(Malformed(url::ParseError::EmptyHost)),
            ),
            (
                "https:///",
                false,
                Err(Malformed(url::ParseError::EmptyHost)),
            ),
            (
                "https://exa mple.com/",
                false,
                Err(Malformed(url::ParseError::IdnaError)),
            ),
            (
                "https://[::1/",
                false,
                Err(Malformed(url::ParseError::InvalidIpv6Address)),
            ),
            ("https://user:pass@example.com/", false, Err(Credentials)),
            ("https://user@example.com/", false, Err(Credentials)),
            ("https://:pass@example.com/", false, Err(Credentials)),
            ("http://user:pass@localhost/", true, Err(Credentials)),
            ("https://example.com/#", false, Err(Fragment)),
            ("https://example.com/hook#frag", false, Err(Fragment)),
        ];
        for (input, allow_insecure, expected) in cases {
            assert_eq!(
                &validate_webhook_url(input, *allow_insecure)
                    .as_ref()
                    .map(WebhookUrl::as_str),
                &expected.as_ref().copied(),
                "{input} (allow_insecure: {allow_insecure})"
            );
        }
    }

    /// Issue 8 item 6: more than one trailing dot, empty labels, labels over 63 characters and
    /// port 0 are refused, so `localhost..` cannot pass for a public name.
    #[test]
    fn issue8_item6_empty_labels_long_labels_and_port_zero_are_refused() {
        for url in [
            "https://localhost../",
            "https://foo.localhost../",
            "https://printer.local../",
            "https://metadata.google.internal../",
            "https://example.com../",
            "https://example..com/",
            "https://.example.com/",
            "https://localhost.../x",
        ] {
            for allow_insecure in [false, true] {
                assert!(
                    matches!(
                        validate_webhook_url(url, allow_insecure),
                        Err(WebhookUrlError::InvalidHostName { .. })
                    ),
                    "{url}: {:?}",
                    validate_webhook_url(url, allow_insecure)
                );
            }
        }
        let long = format!("https://{}.example.com/", "a".repeat(64));
        assert_eq!(
            validate_webhook_url(&long, false),
            Err(WebhookUrlError::InvalidHostName {
                reason: "has a label longer than 63 characters"
            })
        );
        let longest = format!("https://{}.example.com/", "a".repeat(63));
        assert_eq!(
            validate_webhook_url(&longest, false).map(WebhookUrl::into_string),
            Ok(longest.clone())
        );
        for url in [
            "https://example.com:0/",
            "https://8.8.8.8:0/",
            "http://127.0.0.1:0/",
        ] {
            assert_eq!(
                validate_webhook_url(url, true),
                Err(WebhookUrlError::PortZero),
                "{url}"
            );
        }
        // One trailing dot is the root: still the same name, judged as such.
        assert_eq!(
            validate_webhook_url("https://example.com./", false).map(WebhookUrl::into_string),
            Ok("https://example.com./".to_owned())
        );
        assert!(matches!(
            validate_webhook_url("https://localhost./", false),
            Err(WebhookUrlError::ForbiddenHost { .. })
        ));
        assert!(validate_webhook_url("https://example.com:0/", false)
            .unwrap_err()
            .to_string()
            .contains("port 0"));
    }

    #[test]
    fn length_limit() {
        let base = "https://example.com/";
        let at_limit = format!("{base}{}", "a".repeat(MAX_WEBHOOK_URL_LEN - base.len()));
        assert!(validate_webhook_url(&at_limit, false).is_ok());
        let over = format!("{at_limit}a");
        assert_eq!(
            validate_webhook_url(&over, false),
            Err(WebhookUrlError::TooLong { len: 2049 })
        );
        // Normalization can lengthen a URL past the limit.
        let expands = format!("{base}{}", " x".repeat(700));
        assert!(expands.len() < MAX_WEBHOOK_URL_LEN);
        assert_eq!(
            validate_webhook_url(&expands, false),
            Err(WebhookUrlError::TooLong {
                len: base.len() + 700 * 4
            })
        );
    }

    #[test]
    fn host_rules_without_insecure() {
        let cases: &[(&str, Result<&str, WebhookUrlError>)] = &[
            // Loopback, in every spelling the parser normalizes.
            ("https://localhost/", forbidden("localhost", Loopback)),
            ("https://LOCALHOST./", forbidden("localhost.", Loopback)),
            (
                "https://api.localhost/",
                forbidden("api.localhost", Loopback),
            ),
            // Fullwidth letters: refused as not ASCII since issue 9 (no Unicode mapping to
            // `localhost` any more), so still never delivered to.
            (
                "https://ｌｏｃａｌｈｏｓｔ/",
                Err(WebhookUrlError::NonAsciiHost),
            ),
            ("https://127.0.0.1/", forbidden("127.0.0.1", Loopback)),
            ("https://127.1.2.3:8080/", forbidden("127.1.2.3", Loopback)),
            ("https://127.0.0.1./", forbidden("127.0.0.1", Loopback)),
            ("https://2130706433/", forbidden("127.0.0.1", Loopback)),
            ("https://0x7f.1/", forbidden("127.0.0.1", Loopback)),
            ("https://0x7f000001/", forbidden("127.0.0.1", Loopback)),
            ("https://017700000001/", forbidden("127.0.0.1", Loopback)),
            ("https://127.1/", forbidden("127.0.0.1", Loopback)),
            ("https://[::1]/", forbidden("[::1]", Loopback)),
            ("https://[0:0:0:0:0:0:0:1]/", forbidden("[::1]", Loopback)),
            (
                "https://[::ffff:127.0.0.1]/",
                forbidden("[::ffff:7f00:1]", Loopback),
            ),
            // Local names.
            (
                "https://printer.local/",
                forbidden("printer.local", LocalName),
            ),
            ("https://local/", forbidden("local", LocalName)),
            (
                "https://metadata.google.internal/",
                forbidden("metadata.google.internal", LocalName),
            ),
            (
                "https://host.docker.internal./",
                forbidden("host.docker.internal.", LocalName),
            ),
            (
                "https://router.home.arpa/",
                forbidden("router.home.arpa", LocalName),
            ),
            // Private and other non-public IPv4 ranges.
            ("https://10.0.0.1/", forbidden("10.0.0.1", Private)),
            ("https://0x0a.0.0.1/", forbidden("10.0.0.1", Private)),
            ("https://167772161/", forbidden("10.0.0.1", Private)),
            ("https://172.16.0.1/", forbidden("172.16.0.1", Private)),
            (
                "https://172.31.255.255/",
                forbidden("172.31.255.255", Private),
            ),
            ("https://192.168.1.1/", forbidden("192.168.1.1", Private)),
            (
                "https://169.254.169.254/",
                forbidden("169.254.169.254", LinkLocal),
            ),
            ("https://0.0.0.0/", forbidden("0.0.0.0", ThisNetwork)),
            ("https://0/", forbidden("0.0.0.0", ThisNetwork)),
            ("https://0.1.2.3/", forbidden("0.1.2.3", ThisNetwork)),
            (
                "https://100.64.0.1/",
                forbidden("100.64.0.1", SharedAddressSpace),
            ),
            (
                "https://100.127.255.255/",
                forbidden("100.127.255.255", SharedAddressSpace),
            ),
            (
                "https://192.0.0.8/",
                forbidden("192.0.0.8", ProtocolAssignment),
            ),
            ("https://192.0.2.1/", forbidden("192.0.2.1", Documentation)),
            (
                "https://198.51.100.7/",
                forbidden("198.51.100.7", Documentation),
            ),
            (
                "https://203.0.113.9/",
                forbidden("203.0.113.9", Documentation),
            ),
            ("https://198.18.0.1/", forbidden("198.18.0.1", Benchmarking)),
            (
                "https://198.19.255.255/",
                forbidden("198.19.255.255", Benchmarking),
            ),
            ("https://192.88.99.1/", forbidden("192.88.99.1", Reserved)),
            ("https://224.0.0.1/", forbidden("224.0.0.1", Multicast)),
            (
                "https://239.255.255.250/",
                forbidden("239.255.255.250", Multicast),
            ),
            ("https://240.0.0.1/", forbidden("240.0.0.1", Reserved)),
            (
                "https://255.255.255.254/",
                forbidden("255.255.255.254", Reserved),
            ),
            (
                "https://255.255.255.255/",
                forbidden("255.255.255.255", Broadcast),
            ),
            // IPv6.
            ("https://[::]/", forbidden("[::]", ThisNetwork)),
            ("https://[fc00::1]/", forbidden("[fc00::1]", Private)),
            (
                "https://[fd12:3456::1]/",
                forbidden("[fd12:3456::1]", Private),
            ),
            ("https://[fec0::1]/", forbidden("[fec0::1]", Private)),
            ("https://[fe80::1]/", forbidden("[fe80::1]", LinkLocal)),
            ("https://[febf::1]/", forbidden("[febf::1]", LinkLocal)),
            ("https://[ff02::1]/", forbidden("[ff02::1]", Multicast)),
            (
                "https://[2001:db8::1]/",
                forbidden("[2001:db8::1]", Documentation),
            ),
            (
                "https://[3fff:fff::1]/",
                forbidden("[3fff:fff::1]", Documentation),
            ),
            (
                "https://[2001:2::1]/",
                forbidden("[2001:2::1]", Benchmarking),
            ),
            ("https://[100::1]/", forbidden("[100::1]", Reserved)),
            ("https://[::127.0.0.1]/", forbidden("[::7f00:1]", Reserved)),
            ("https://[::8.8.8.8]/", forbidden("[::808:808]", Reserved)),
            // IPv6 addresses judged by the IPv4 address they embed.
            (
                "https://[::ffff:10.0.0.1]/",
                forbidden("[::ffff:a00:1]", Private),
            ),
            (
                "https://[::ffff:169.254.169.254]/",
                forbidden("[::ffff:a9fe:a9fe]", LinkLocal),
            ),
            (
                "https://[64:ff9b::10.0.0.1]/",
                forbidden("[64:ff9b::a00:1]", Private),
            ),
            (
                "https://[64:ff9b::127.0.0.1]/",
                forbidden("[64:ff9b::7f00:1]", Loopback),
            ),
            (
                "https://[64:ff9b:1::1]/",
                forbidden("[64:ff9b:1::1]", Private),
            ),
            (
                "https://[2002:c0a8:101::1]/",
                forbidden("[2002:c0a8:101::1]", Private),
            ),
            (
                "https://[2002:7f00:1::]/",
                forbidden("[2002:7f00:1::]", Loopback),
            ),
            // Teredo client 10.0.0.1, stored inverted.
            (
                "https://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/",
                forbidden("[2001:0:4136:e378:8000:63bf:f5ff:fffe]", Private),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(
                &validate_webhook_url(input, false)
                    .as_ref()
                    .map(WebhookUrl::as_str),
                &expected.as_ref().copied(),
                "{input}"
            );
        }
    }

    #[test]
    fn insecure_allows_http_and_loopback_only() {
        for (input, normalized) in [
            ("http://localhost:8787/hook", "http://localhost:8787/hook"),
            ("http://api.localhost/", "http://api.localhost/"),
            ("http://127.0.0.1:3000/", "http://127.0.0.1:3000/"),
            ("http://2130706433/", "http://127.0.0.1/"),
            ("http://0x7f.1/", "http://127.0.0.1/"),
            ("http://[::1]:8787/", "http://[::1]:8787/"),
            ("https://localhost/", "https://localhost/"),
        ] {
            assert_eq!(
                validate_webhook_url(input, true).map(WebhookUrl::into_string),
                Ok(normalized.to_owned()),
                "{input}"
            );
        }
        for (input, restriction) in [
            ("http://10.0.0.1/", Private),
            ("http://192.168.0.10:8080/", Private),
            ("http://169.254.169.254/", LinkLocal),
            ("http://[fe80::1]/", LinkLocal),
            ("http://[fd00::1]/", Private),
            ("http://0.0.0.0/", ThisNetwork),
            ("http://[::]/", ThisNetwork),
            ("http://printer.local/", LocalName),
            ("http://host.docker.internal/", LocalName),
            ("http://224.0.0.1/", Multicast),
        ] {
            assert!(
                matches!(
                    validate_webhook_url(input, true),
                    Err(WebhookUrlError::ForbiddenHost { restriction: r, .. }) if r == restriction
                ),
                "{input}"
            );
        }
    }

    #[test]
    fn messages_name_the_rule() {
        let message = |url: &str| validate_webhook_url(url, false).unwrap_err().to_string();
        assert_eq!(
            message("http://example.com/"),
            "webhookUrl must use https (set ALLOW_INSECURE_WEBHOOKS=true to allow http for local development)"
        );
        assert_eq!(
            message("https://user:pass@example.com/"),
            "webhookUrl must not contain credentials (user:password@)"
        );
        assert_eq!(
            message("https://10.0.0.1/"),
            "webhookUrl host 10.0.0.1 is a private address"
        );
        assert_eq!(
            message("https://127.0.0.1/"),
            "webhookUrl host 127.0.0.1 is a loopback address (set ALLOW_INSECURE_WEBHOOKS=true to allow it for local development)"
        );
        assert_eq!(
            message("ftp://example.com/"),
            "webhookUrl must use https, not ftp"
        );
        assert_eq!(
            message("https://example.com/#x"),
            "webhookUrl must not contain a fragment (#...)"
        );
        assert!(message("nonsense").starts_with("webhookUrl is not a valid absolute URL: "));
        assert!(message(&"x".repeat(3000)).contains("at most 2048"));
    }

    #[test]
    fn messages_never_echo_credentials() {
        for url in [
            "https://alice:hunter2@example.com/",
            "http://alice:hunter2@example.com/",
            "https://alice:hunter2@10.0.0.1/",
            "https://alice:hunter2@exa mple.com/",
            "https://alice:hunter2@[::1/",
            "ftp://alice:hunter2@example.com/",
            "https://alice:hunter2@example.com/#frag",
        ] {
            for allow_insecure in [false, true] {
                let error = validate_webhook_url(url, allow_insecure).unwrap_err();
                for shown in [error.to_string(), format!("{error:?}")] {
                    assert!(!shown.contains("hunter2"), "{url}: {shown}");
                    assert!(!shown.contains("alice"), "{url}: {shown}");
                }
            }
        }
    }

    #[test]
    fn malformed_error_has_a_source() {
        let error = validate_webhook_url("nonsense", false).unwrap_err();
        assert!(error.source().is_some());
        assert!(WebhookUrlError::Fragment.source().is_none());
    }

    #[test]
    fn webhook_url_accessors() {
        let url = validate_webhook_url("https://example.com/hook", false).unwrap();
        assert_eq!(url.as_str(), "https://example.com/hook");
        assert_eq!(url.as_ref(), "https://example.com/hook");
        assert_eq!(url.to_string(), "https://example.com/hook");
        assert_eq!(String::from(url), "https://example.com/hook");
    }
}
