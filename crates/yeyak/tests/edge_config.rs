//! The public edge (`deploy/nginx.conf`) keeps the nodes' private paths off the internet.
//!
//! A node answers `/metrics` (the waiting room's limit, watermark and controller: what a bot
//! would time its arrivals by), `/readyz` (the ledger's holder and its private address) and
//! `/api/internal/` (node-to-node writes) to anyone who reaches it; operators and the other
//! nodes reach it on the private network. The edge must refuse them, and in a way nginx's
//! location matching cannot route around: an exact (`=`) location wins over every other, and a
//! prefix location loses to any regular-expression one, so the file must have none.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::path::Path;

/// One `location` block: its modifier (`=`, `~`, `~*`, `^~` or none), its path and its body.
#[derive(Debug)]
struct Location {
    modifier: String,
    path: String,
    body: String,
}

fn edge_config() -> String {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/nginx.conf");
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// The config without its comments (a `#` to the end of the line; the file quotes none).
fn without_comments(config: &str) -> String {
    config
        .lines()
        .map(|line| line.split('#').next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

fn locations(config: &str) -> Vec<Location> {
    let config = without_comments(config);
    let mut found = Vec::new();
    let mut rest = config.as_str();
    while let Some(at) = rest.find("location ") {
        let after = &rest[at + "location ".len()..];
        let open = after.find('{').unwrap();
        let close = open + after[open..].find('}').unwrap();
        let words: Vec<&str> = after[..open].split_whitespace().collect();
        let (modifier, path) = match words.as_slice() {
            [path] => ("", *path),
            [modifier, path] => (*modifier, *path),
            other => panic!("a location this test cannot read: {other:?}"),
        };
        found.push(Location {
            modifier: modifier.to_string(),
            path: path.to_string(),
            body: after[open + 1..close]
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        });
        rest = &after[close..];
    }
    found
}

fn refuses(location: &Location) -> bool {
    location.body == "return 404;"
}

#[test]
fn the_edge_refuses_the_nodes_private_paths() {
    let locations = locations(&edge_config());
    assert!(
        locations
            .iter()
            .any(|l| l.modifier.is_empty() && l.path == "/"),
        "the edge proxies everything else: {locations:?}"
    );
    for path in ["/metrics", "/readyz"] {
        assert!(
            locations
                .iter()
                .any(|l| l.modifier == "=" && l.path == path && refuses(l)),
            "no `location = {path} {{ return 404; }}` in deploy/nginx.conf: {locations:?}"
        );
    }
    assert!(
        locations
            .iter()
            .any(|l| l.modifier.is_empty() && l.path == "/api/internal/" && refuses(l)),
        "node-to-node writes reachable from the edge: {locations:?}"
    );
    let regex: Vec<&Location> = locations
        .iter()
        .filter(|l| l.modifier.starts_with('~'))
        .collect();
    assert!(
        regex.is_empty(),
        "a regular-expression location wins over the prefix /api/internal/: {regex:?}"
    );
}
