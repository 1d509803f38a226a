//! No import circles between the modules of a crate.
//!
//! Reads every crate's sources (from its root through its `mod` declarations), finds which module
//! each `crate::`/`super::`/`self::`/child-module path refers to — following `pub use`
//! re-exports to the module that defines the item — and looks for strongly connected
//! components in that graph. A circle means two files that cannot be understood, or moved,
//! one without the other.
//!
//! Written by hand because the tools that do this (`cargo modules`) need a nightly toolchain's
//! rust-analyzer crates and minutes per run; a lexer that knows strings, comments and `use`
//! trees is enough for a codebase that does not generate modules with macros or `#[path]`.
//!
//! There is none: the server crate's last circles were broken in issue 10 (its modules are
//! layered, see ARCHITECTURE.md), and any new one fails this test.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

#[test]
fn no_crate_has_an_import_circle_between_its_modules() {
    let crates_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut found: Vec<(String, Vec<String>)> = Vec::new();
    let mut names: Vec<String> = std::fs::read_dir(&crates_dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        let src = crates_dir.join(&name).join("src");
        for root in ["lib.rs", "main.rs"] {
            if src.join(root).exists() {
                let graph = ModuleGraph::read(&src, root);
                for circle in graph.circles() {
                    found.push((name.clone(), circle));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "import circles between modules (break them; MODULE_EDGES=1 with --nocapture prints \
         their edges): {found:#?}"
    );
}

/// The server's layers, bottom to top (ARCHITECTURE.md, "Code map"): a module may use its own
/// layer and those below, never one above. A module is placed by the longest entry that is a
/// prefix of its path; a module the table does not place fails the test, so a new module is
/// placed on purpose.
const SERVER_LAYERS: &[(&str, u8)] = &[
    // What every handler and page shares about HTTP and words, and nothing about yeyak.
    ("text", 0),
    ("error", 1),
    ("http", 1),
    ("credentials", 1),
    ("rate", 1),
    // The services the state holds, each knowing nothing of the state.
    ("clock", 2),
    ("secrets", 2),
    ("session", 2),
    ("identity", 2),
    ("world", 2),
    ("waiting", 2),
    ("notify", 2),
    ("dashboard", 2),
    ("metrics", 2),
    ("operator", 2),
    ("forward", 2),
    ("startup", 2),
    ("shell::limits", 2),
    ("state", 3),
    // What reads the state.
    ("routes", 4),
    ("pages", 4),
    ("staff", 4),
    ("security", 4),
    ("forward::relay", 4),
    ("shell", 4),
    ("background", 4),
    ("app", 5),
    ("", 6),
];

/// Uses the layers allow but the design does not: the JSON API never reads the pages.
const SERVER_FORBIDDEN: &[(&str, &str)] = &[("routes", "pages")];

fn layer_of(module: &str) -> Option<u8> {
    SERVER_LAYERS
        .iter()
        .filter(|(prefix, _)| is_within(module, prefix))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(_, layer)| *layer)
}

fn is_within(module: &str, prefix: &str) -> bool {
    prefix.is_empty()
        || module == prefix
        || module
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with("::"))
}

/// Every use in `graph` that goes up a layer or is forbidden, and every module not placed.
fn layer_violations(graph: &ModuleGraph) -> Vec<String> {
    let mut found = Vec::new();
    for (from, to) in graph.edges() {
        let (Some(from_layer), Some(to_layer)) = (layer_of(&from), layer_of(&to)) else {
            found.push(format!("not placed in SERVER_LAYERS: {from} or {to}"));
            continue;
        };
        if to_layer > from_layer {
            found.push(format!(
                "{} (layer {from_layer}) uses {} (layer {to_layer})",
                display_name(&from),
                display_name(&to)
            ));
        }
        for (user, used) in SERVER_FORBIDDEN {
            if is_within(&from, user) && is_within(&to, used) {
                found.push(format!("{from} uses {to}: {user} never uses {used}"));
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

#[test]
fn the_servers_modules_use_only_their_own_layer_and_those_below() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/src");
    let found = layer_violations(&ModuleGraph::read(&src, "lib.rs"));
    assert!(found.is_empty(), "uses against the layers: {found:#?}");
}

#[test]
fn the_layer_check_finds_a_use_going_up_and_a_forbidden_one() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(
        dir,
        "lib.rs",
        "mod http;\nmod state;\nmod routes;\nmod pages;\n",
    );
    write(dir, "http.rs", "pub fn parse() {}\n");
    write(
        dir,
        "state.rs",
        "pub struct AppState;\nfn f() { crate::http::parse(); }\n",
    );
    write(dir, "routes.rs", "use crate::state::AppState;\n");
    write(dir, "pages.rs", "pub fn page() { crate::routes::x(); }\n");
    assert!(layer_violations(&ModuleGraph::read(dir, "lib.rs")).is_empty());

    write(
        dir,
        "http.rs",
        "pub fn parse() { let _ = crate::state::AppState; }\n",
    );
    write(dir, "routes.rs", "use crate::pages::page;\n");
    assert_eq!(
        layer_violations(&ModuleGraph::read(dir, "lib.rs")),
        vec![
            "http (layer 1) uses state (layer 3)".to_string(),
            "routes uses pages: routes never uses pages".to_string(),
        ]
    );
}

#[test]
fn the_check_finds_a_circle_through_a_re_export_and_not_a_one_way_use() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(dir, "lib.rs", "mod a;\nmod b;\nmod c;\npub use a::Thing;\n");
    write(
        dir,
        "a.rs",
        "pub struct Thing;\nfn f() { crate::b::g(); }\n",
    );
    write(dir, "b.rs", "use super::Thing;\npub fn g() {}\n");
    write(
        dir,
        "c.rs",
        "use crate::b::g;\n// crate::c::nothing in a comment\n",
    );
    let circles = ModuleGraph::read(dir, "lib.rs").circles();
    assert_eq!(circles, vec![vec!["a".to_string(), "b".to_string()]]);

    write(dir, "b.rs", "pub fn g() { let _ = \"super::Thing\"; }\n");
    assert!(ModuleGraph::read(dir, "lib.rs").circles().is_empty());

    // A test-only module (of any visibility) is not part of the graph; what follows it is.
    write(
        dir,
        "b.rs",
        "pub fn g() {}\n#[cfg(test)]\npub(crate) mod checks {\n    use crate::a::Thing;\n}\nfn h() { crate::a::Thing; }\n",
    );
    assert_eq!(
        ModuleGraph::read(dir, "lib.rs").circles(),
        vec![vec!["a".to_string(), "b".to_string()]]
    );
    write(
        dir,
        "b.rs",
        "pub fn g() {}\n#[cfg(test)]\npub(crate) mod checks {\n    use crate::a::Thing;\n}\n",
    );
    assert!(ModuleGraph::read(dir, "lib.rs").circles().is_empty());
}

fn write(dir: &Path, file: &str, text: &str) {
    std::fs::write(dir.join(file), text).unwrap();
}

/// One crate's modules (by path, `""` for the root) and which ones each refers to.
struct ModuleGraph {
    modules: BTreeMap<String, Module>,
}

#[derive(Default)]
struct Module {
    /// Items defined in the file (functions, types, constants, inline modules, macros).
    defines: BTreeSet<String>,
    /// `pub use` leaves: name → absolute path.
    reexports: BTreeMap<String, Vec<String>>,
    /// Absolute paths this module's code refers to.
    paths: Vec<Vec<String>>,
}

impl ModuleGraph {
    fn read(src: &Path, root: &str) -> ModuleGraph {
        let mut graph = ModuleGraph {
            modules: BTreeMap::new(),
        };
        graph.read_module(src.join(root), Vec::new());
        graph
    }

    fn read_module(&mut self, file: PathBuf, path: Vec<String>) {
        let text =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let tokens = tokens(&without_test_module(&text));
        let children = child_modules(&tokens);
        let mut module = Module::default();
        read_items(&tokens, &path, &children, &mut module);
        self.modules.insert(path.join("::"), module);
        // `a.rs` and `a/mod.rs` keep their children in `a/`; `lib.rs`/`main.rs` beside them.
        let dir = match file.file_name().and_then(|n| n.to_str()) {
            Some("mod.rs" | "lib.rs" | "main.rs") => file.parent().unwrap().to_path_buf(),
            _ => file.with_extension(""),
        };
        for child in children {
            let flat = dir.join(format!("{child}.rs"));
            let nested = dir.join(&child).join("mod.rs");
            let child_file = if flat.exists() { flat } else { nested };
            let mut child_path = path.clone();
            child_path.push(child);
            self.read_module(child_file, child_path);
        }
    }

    /// The module that defines what `path` names: its longest module prefix, then through that
    /// module's re-exports while the item is not defined there.
    fn resolve(&self, path: &[String], depth: usize) -> Option<String> {
        let (module_len, module) = (0..=path.len())
            .rev()
            .find_map(|n| self.modules.get(&path[..n].join("::")).map(|m| (n, m)))?;
        let here = path[..module_len].join("::");
        // A bare module path (`use crate::routes;`) is a name, not a use: what is used
        // through it is counted where it is used. A glob (`use super::*`) uses the module.
        let item = path.get(module_len)?;
        if item == "*" {
            return Some(here);
        }
        if depth < 8
            && !module.defines.contains(item)
            && let Some(target) = module.reexports.get(item)
        {
            let mut next = target.clone();
            next.extend_from_slice(&path[module_len + 1..]);
            return self.resolve(&next, depth + 1).or(Some(here));
        }
        Some(here)
    }

    /// Every use of one module by another, as (user, used) module paths.
    fn edges(&self) -> BTreeSet<(String, String)> {
        self.modules
            .iter()
            .flat_map(|(name, module)| {
                module
                    .paths
                    .iter()
                    .filter_map(|p| self.resolve(p, 0))
                    .filter(move |target| target != name)
                    .map(move |target| (name.clone(), target))
            })
            .collect()
    }

    /// Strongly connected components of two or more modules (Tarjan), each sorted; sorted.
    fn circles(&self) -> Vec<Vec<String>> {
        let names: Vec<&String> = self.modules.keys().collect();
        let index_of: BTreeMap<&String, usize> =
            names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        let mut edges: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); names.len()];
        for (from, to) in self.edges() {
            edges[index_of[&from]].insert(index_of[&to]);
        }
        // `MODULE_EDGES=1 cargo test -p yeyak --test module_cycles -- --nocapture` prints every
        // edge of every circle: the map for whoever breaks one.
        let print_edges = std::env::var_os("MODULE_EDGES").is_some();
        let mut circles: Vec<Vec<String>> = strongly_connected(&edges)
            .into_iter()
            .filter(|component| component.len() > 1)
            .inspect(|component| {
                if print_edges {
                    for &from in component {
                        for &to in edges[from].iter().filter(|to| component.contains(to)) {
                            println!(
                                "{} -> {}",
                                display_name(names[from]),
                                display_name(names[to])
                            );
                        }
                    }
                }
            })
            .map(|component| {
                let mut modules: Vec<String> = component
                    .into_iter()
                    .map(|i| display_name(names[i]))
                    .collect();
                modules.sort();
                modules
            })
            .collect();
        circles.sort();
        circles
    }
}

fn display_name(path: &str) -> String {
    if path.is_empty() {
        "crate".to_string()
    } else {
        path.to_string()
    }
}

fn strongly_connected(edges: &[BTreeSet<usize>]) -> Vec<Vec<usize>> {
    struct Tarjan<'a> {
        edges: &'a [BTreeSet<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        components: Vec<Vec<usize>>,
    }
    impl Tarjan<'_> {
        fn visit(&mut self, v: usize) {
            self.index[v] = Some(self.next);
            self.low[v] = self.next;
            self.next += 1;
            self.stack.push(v);
            self.on_stack[v] = true;
            for &w in self.edges[v].iter() {
                match self.index[w] {
                    None => {
                        self.visit(w);
                        self.low[v] = self.low[v].min(self.low[w]);
                    }
                    Some(w_index) if self.on_stack[w] => self.low[v] = self.low[v].min(w_index),
                    Some(_) => {}
                }
            }
            if Some(self.low[v]) == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack[w] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                self.components.push(component);
            }
        }
    }
    let n = edges.len();
    let mut tarjan = Tarjan {
        edges,
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        next: 0,
        components: Vec::new(),
    };
    for v in 0..n {
        if tarjan.index[v].is_none() {
            tarjan.visit(v);
        }
    }
    tarjan.components
}

/// The file without its unit tests (`#[cfg(test)] mod …` to the end of the file, where this
/// codebase keeps them): tests may use anything, production code may not.
fn without_test_module(text: &str) -> String {
    let mut kept = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let test_module_follows =
            line.trim() == "#[cfg(test)]" && lines.peek().is_some_and(|next| declares_module(next));
        if test_module_follows {
            skip_block(&mut lines);
            continue;
        }
        kept.push_str(line);
        kept.push('\n');
    }
    kept
}

/// `mod x {`, `pub mod x;`, `pub(crate) mod x {` and the like.
fn declares_module(line: &str) -> bool {
    let line = line.trim_start();
    let after_visibility = match line.strip_prefix("pub") {
        Some(rest) if rest.starts_with('(') => rest.split_once(')').map_or("", |(_, r)| r),
        Some(rest) => rest,
        None => line,
    };
    after_visibility.trim_start().starts_with("mod ")
}

/// Skips the item that starts at the next line: one line if it ends with `;`, else up to the
/// brace that closes it (braces counted per line; test modules hold no unbalanced braces in
/// strings at the start or end of a line).
fn skip_block<'a>(lines: &mut std::iter::Peekable<impl Iterator<Item = &'a str>>) {
    let mut depth = 0i64;
    for line in lines.by_ref() {
        depth += line.matches('{').count() as i64 - line.matches('}').count() as i64;
        if depth <= 0 && (line.contains('}') || line.trim_end().ends_with(';')) {
            return;
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Ident(String),
    PathSep,
    Punct(char),
}

/// Identifiers, `::` and single punctuation; strings, characters and comments dropped.
fn tokens(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            i = skip_block_comment(&chars, i);
        } else if c == '"' {
            i = skip_string(&chars, i + 1);
        } else if (c == 'r' || c == 'b')
            && !prev_is_ident(&chars, i)
            && let Some(end) = skip_raw_or_byte_string(&chars, i)
        {
            i = end;
        } else if c == '\'' {
            i = skip_char_or_lifetime(&chars, i);
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Token::Ident(chars[start..i].iter().collect()));
        } else if c == ':' && next == Some(':') {
            out.push(Token::PathSep);
            i += 2;
        } else {
            if !c.is_whitespace() {
                out.push(Token::Punct(c));
            }
            i += 1;
        }
    }
    out
}

fn prev_is_ident(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

fn skip_block_comment(chars: &[char], start: usize) -> usize {
    let mut depth = 0;
    let mut i = start;
    while i + 1 < chars.len() {
        if chars[i] == '/' && chars[i + 1] == '*' {
            depth += 1;
            i += 2;
        } else if chars[i] == '*' && chars[i + 1] == '/' {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    chars.len()
}

/// From just after an opening `"` to just after its closing one.
fn skip_string(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '"' => return i + 1,
            _ => i += 1,
        }
    }
    i
}

/// `r"…"`, `r#"…"#`, `b"…"`, `br#"…"#`: the index after it, or None if this is no such string.
fn skip_raw_or_byte_string(chars: &[char], start: usize) -> Option<usize> {
    let mut i = start;
    if chars[i] == 'b' {
        i += 1;
        if chars.get(i) == Some(&'"') {
            return Some(skip_string(chars, i + 1));
        }
    }
    if chars.get(i) != Some(&'r') {
        return None;
    }
    i += 1;
    let mut hashes = 0;
    while chars.get(i) == Some(&'#') {
        hashes += 1;
        i += 1;
    }
    if chars.get(i) != Some(&'"') {
        return None;
    }
    i += 1;
    while i < chars.len() {
        if chars[i] == '"' && (1..=hashes).all(|k| chars.get(i + k) == Some(&'#')) {
            return Some(i + 1 + hashes);
        }
        i += 1;
    }
    Some(i)
}

/// A character literal (`'a'`, `'\n'`, `'\u{1F}'`) is skipped; a lifetime's quote only.
fn skip_char_or_lifetime(chars: &[char], start: usize) -> usize {
    match (chars.get(start + 1), chars.get(start + 2)) {
        (Some('\\'), _) => {
            let mut i = start + 2;
            while i < chars.len() && chars[i] != '\'' {
                i += 1;
            }
            i + 1
        }
        (Some(_), Some('\'')) => start + 3,
        _ => start + 1,
    }
}

/// Names declared with `mod name;` (files), not inline `mod name { … }`.
fn child_modules(tokens: &[Token]) -> Vec<String> {
    tokens
        .windows(3)
        .filter_map(|w| match w {
            [Token::Ident(kw), Token::Ident(name), Token::Punct(';')] if kw == "mod" => {
                Some(name.clone())
            }
            _ => None,
        })
        .collect()
}

const DEFINING: &[&str] = &[
    "fn", "struct", "enum", "trait", "const", "static", "type", "union", "mod",
];

/// Fills in what the module defines, re-exports and refers to.
fn read_items(tokens: &[Token], path: &[String], children: &[String], module: &mut Module) {
    let mut aliases: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i] {
            Token::Ident(kw) if kw == "use" && !follows_path_sep(tokens, i) => {
                let public = is_public_use(tokens, i);
                let (leaves, end) = use_tree(tokens, i + 1);
                for leaf in leaves {
                    let Some(absolute) = absolute_path(&leaf, path, children, &aliases) else {
                        continue;
                    };
                    let name = leaf.last().cloned().unwrap_or_default();
                    if public && name != "*" {
                        module.reexports.insert(name.clone(), absolute.clone());
                    }
                    if name == "self" {
                        let module_path: Vec<String> = absolute[..absolute.len() - 1].to_vec();
                        if let Some(module_name) = module_path.last() {
                            aliases.insert(module_name.clone(), module_path.clone());
                        }
                    } else if name != "*" {
                        aliases.insert(name, absolute.clone());
                    }
                    // A re-export is the module's public face, not a use by its code: a crate
                    // root that re-exports its children's types is no circle with them.
                    if !public {
                        module.paths.push(absolute);
                    }
                }
                i = end;
            }
            Token::Ident(kw) if DEFINING.contains(&kw.as_str()) => {
                if let Some(Token::Ident(name)) = tokens.get(i + 1) {
                    module.defines.insert(name.clone());
                }
                i += 1;
            }
            Token::Ident(kw) if kw == "macro_rules" => {
                if let Some(Token::Ident(name)) = tokens.get(i + 2) {
                    module.defines.insert(name.clone());
                }
                i += 1;
            }
            Token::Ident(_)
                if tokens.get(i + 1) == Some(&Token::PathSep) && !follows_path_sep(tokens, i) =>
            {
                let (segments, end) = plain_path(tokens, i);
                if let Some(absolute) = absolute_path(&segments, path, children, &aliases) {
                    module.paths.push(absolute);
                }
                i = end;
            }
            _ => i += 1,
        }
    }
}

fn follows_path_sep(tokens: &[Token], i: usize) -> bool {
    i > 0 && tokens[i - 1] == Token::PathSep
}

/// `pub use`, `pub(crate) use`, `pub(super) use`.
fn is_public_use(tokens: &[Token], use_at: usize) -> bool {
    match use_at.checked_sub(1).map(|j| &tokens[j]) {
        Some(Token::Ident(p)) => p == "pub",
        Some(Token::Punct(')')) => tokens[..use_at]
            .iter()
            .rev()
            .skip_while(|t| **t != Token::Punct('('))
            .nth(1)
            .is_some_and(|t| *t == Token::Ident("pub".into())),
        _ => false,
    }
}

/// `a::b::c` from `start`: its segments and the index after it.
fn plain_path(tokens: &[Token], start: usize) -> (Vec<String>, usize) {
    let mut segments = Vec::new();
    let mut i = start;
    while let Some(Token::Ident(segment)) = tokens.get(i) {
        segments.push(segment.clone());
        if tokens.get(i + 1) == Some(&Token::PathSep) {
            i += 2;
        } else {
            i += 1;
            break;
        }
    }
    (segments, i)
}

/// The leaves of a `use` tree starting at `start` (after `use`), `as` renames dropped; and the
/// index after its `;`.
fn use_tree(tokens: &[Token], start: usize) -> (Vec<Vec<String>>, usize) {
    fn tree(
        tokens: &[Token],
        mut i: usize,
        prefix: &[String],
        leaves: &mut Vec<Vec<String>>,
    ) -> usize {
        let mut path = prefix.to_vec();
        loop {
            match tokens.get(i) {
                Some(Token::Ident(kw)) if kw == "as" => i += 2,
                Some(Token::Ident(segment)) => {
                    path.push(segment.clone());
                    i += 1;
                }
                Some(Token::Punct('*')) => {
                    path.push("*".into());
                    i += 1;
                }
                Some(Token::PathSep) => i += 1,
                Some(Token::Punct('{')) => {
                    i += 1;
                    loop {
                        i = tree(tokens, i, &path, leaves);
                        match tokens.get(i) {
                            Some(Token::Punct(',')) => i += 1,
                            Some(Token::Punct('}')) => return i + 1,
                            _ => return i,
                        }
                        if tokens.get(i) == Some(&Token::Punct('}')) {
                            return i + 1;
                        }
                    }
                }
                _ => {
                    if path.len() > prefix.len() {
                        leaves.push(path);
                    }
                    return i;
                }
            }
        }
    }
    let mut leaves = Vec::new();
    let mut i = tree(tokens, start, &[], &mut leaves);
    while i < tokens.len() && tokens[i] != Token::Punct(';') {
        i += 1;
    }
    (leaves, i + 1)
}

/// A path as seen from module `here`, made absolute within the crate; None if it leaves the
/// crate (another crate, `std`) or is a local name.
fn absolute_path(
    segments: &[String],
    here: &[String],
    children: &[String],
    aliases: &BTreeMap<String, Vec<String>>,
) -> Option<Vec<String>> {
    let first = segments.first()?;
    let mut absolute: Vec<String> = match first.as_str() {
        "crate" => Vec::new(),
        "self" => here.to_vec(),
        "super" => {
            let mut base = here.to_vec();
            let mut rest = segments;
            while rest.first().map(String::as_str) == Some("super") {
                base.pop();
                rest = &rest[1..];
            }
            base.extend_from_slice(rest);
            return Some(base);
        }
        name if children.iter().any(|c| c == name) => {
            let mut child = here.to_vec();
            child.push(name.to_string());
            child.extend_from_slice(&segments[1..]);
            return Some(child);
        }
        name => {
            let mut target = aliases.get(name)?.clone();
            target.extend_from_slice(&segments[1..]);
            return Some(target);
        }
    };
    absolute.extend_from_slice(&segments[1..]);
    Some(absolute)
}
