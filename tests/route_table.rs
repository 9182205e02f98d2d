//! Issue 10, "one route table": README.md's route table and the TypeScript client's calls are
//! the Rust table `route_table::ROUTES`, row for row.

use std::path::Path;

use discord_gateway_do::route_table::{is_public, ServedBy, ROUTES};

fn read(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The README's route table rows under `## Routes`, as `| route | does | answers |` lines.
fn readme_rows(readme: &str) -> Vec<String> {
    let section = readme
        .split("\n## Routes\n")
        .nth(1)
        .expect("README has a ## Routes section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let mut lines = section
        .lines()
        .skip_while(|l| !l.starts_with("| route |"))
        .skip(2); // the header and its |---| line
    let mut rows = Vec::new();
    for line in lines.by_ref() {
        if !line.starts_with('|') {
            break;
        }
        rows.push(line.to_owned());
    }
    rows
}

/// The rows the table says the README should have.
fn expected_rows() -> Vec<String> {
    ROUTES
        .iter()
        .filter(|r| is_public(r))
        .map(|r| format!("| `{} {}` | {} | {} |", r.method, r.path, r.does, r.answers))
        .collect()
}

#[test]
fn issue_10_readme_route_table_is_the_rust_route_table() {
    let rows = readme_rows(&read("README.md"));
    assert!(!rows.is_empty(), "README's route table was not found");
    assert_eq!(
        rows,
        expected_rows(),
        "README.md's route table differs from src/route_table.rs"
    );
}

/// `call<T>("METHOD", "/path"` in the client, in order (the definition, `call<T>(method: ...`,
/// has no quoted arguments and is skipped).
fn client_calls(source: &str) -> Vec<(String, String)> {
    source
        .split("call<")
        .skip(1)
        .filter_map(|rest| {
            let args = rest.split_once(">(\"")?.1;
            let (method, args) = args.split_once("\", \"")?;
            let (path, _) = args.split_once('"')?;
            Some((method.to_owned(), path.to_owned()))
        })
        .collect()
}

/// The client binds the object, so it has the object's routes (not the entry's registry or page).
#[test]
fn issue_10_typescript_client_calls_every_route_of_the_table() {
    let calls = client_calls(&read("client/gateway-stub.ts"));
    let expected: Vec<(String, String)> = ROUTES
        .iter()
        .filter(|r| r.served_by == ServedBy::Object && is_public(r))
        .map(|r| (r.method.to_string(), r.path.to_owned()))
        .collect();
    assert_eq!(
        calls, expected,
        "client/gateway-stub.ts calls differ from src/route_table.rs"
    );
}

#[test]
fn issue_10_a_wrong_readme_row_is_caught() {
    let readme = read("README.md");
    let wrong = readme.replacen("| `GET /status` |", "| `POST /status` |", 1);
    assert_ne!(readme_rows(&wrong), expected_rows());
    let missing = readme.replacen("| `POST /dead-letters/drop` |", "", 1);
    assert_ne!(readme_rows(&missing), expected_rows());
}
