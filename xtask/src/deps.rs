//! `cargo xtask deps`: fails when modules of a crate import each other in
//! a cycle.
//!
//! Each source file is a node, named by its module path. An edge runs from
//! a file to every module its code names: `use` trees and every path in
//! code, resolved from `crate::`, `super::`, `self::` and child modules,
//! through a module's `pub use` re-exports to the module that defines the
//! item. Not counted: a module declaring its children (`mod x;`), a module
//! re-exporting its own children (`pub use x::Y;`, structure rather than
//! use), the crate root (the composition root names everything) and
//! `#[cfg(test)]` modules. What is left must be acyclic, so the order in
//! ARCHITECTURE.md stays the order in the code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, Result, bail};
use syn::visit::Visit;

/// One source file.
struct Module {
    /// Module path, `[]` for the crate root.
    path: Vec<String>,
    ast: syn::File,
    /// Child modules declared in this file (`mod x;`).
    children: BTreeSet<String>,
    /// Names this module re-exports from its children: name -> child path.
    reexports: BTreeMap<String, Vec<String>>,
}

fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.parse_args::<syn::Meta>()
                .is_ok_and(|m| m.path().is_ident("test"))
    })
}

fn load(root_file: &Path) -> Result<Vec<Module>> {
    let mut out = Vec::new();
    let mut todo = vec![(Vec::<String>::new(), root_file.to_owned())];
    while let Some((path, file)) = todo.pop() {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        let ast = syn::parse_file(&text).with_context(|| format!("parsing {}", file.display()))?;
        // Where this file's children live: beside it for lib.rs, main.rs
        // and mod.rs, else in a folder named after it.
        let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        let dir = if path.is_empty() || stem == "mod" {
            file.parent().context("file has a folder")?.to_owned()
        } else {
            file.with_extension("")
        };
        let mut children = BTreeSet::new();
        for item in &ast.items {
            if let syn::Item::Mod(m) = item
                && m.content.is_none()
                && !is_cfg_test(&m.attrs)
            {
                let name = m.ident.to_string();
                let flat = dir.join(format!("{name}.rs"));
                let nested = dir.join(&name).join("mod.rs");
                let child_file = if flat.is_file() { flat } else { nested };
                let mut child = path.clone();
                child.push(name.clone());
                children.insert(name);
                todo.push((child, child_file));
            }
        }
        let mut reexports = BTreeMap::new();
        for item in &ast.items {
            if let syn::Item::Use(u) = item
                && !matches!(u.vis, syn::Visibility::Inherited)
            {
                for used in flatten(&u.tree) {
                    if let (Some(first), Some(last)) = (used.first(), used.last())
                        && children.contains(first)
                    {
                        let mut target = path.clone();
                        target.extend(used[..used.len() - 1].iter().cloned());
                        reexports.insert(last.clone(), target);
                    }
                }
            }
        }
        out.push(Module {
            path,
            ast,
            children,
            reexports,
        });
    }
    Ok(out)
}

/// Every path a `use` tree names (a glob names its module; a rename keeps
/// the original name).
fn flatten(tree: &syn::UseTree) -> Vec<Vec<String>> {
    match tree {
        syn::UseTree::Path(p) => flatten(&p.tree)
            .into_iter()
            .map(|mut rest| {
                rest.insert(0, p.ident.to_string());
                rest
            })
            .collect(),
        syn::UseTree::Name(n) => vec![vec![n.ident.to_string()]],
        syn::UseTree::Rename(r) => vec![vec![r.ident.to_string()]],
        syn::UseTree::Glob(_) => vec![vec![]],
        syn::UseTree::Group(g) => g.items.iter().flat_map(flatten).collect(),
    }
}

/// Collects the paths one file names, outside its test modules and outside
/// the re-exports of its own children.
struct Paths<'a> {
    module: &'a Module,
    found: Vec<Vec<String>>,
}

impl<'ast> Visit<'ast> for Paths<'_> {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if !is_cfg_test(&m.attrs) {
            syn::visit::visit_item_mod(self, m);
        }
    }
    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        for used in flatten(&u.tree) {
            let own_child = used
                .first()
                .is_some_and(|f| self.module.children.contains(f));
            if own_child && !matches!(u.vis, syn::Visibility::Inherited) {
                continue;
            }
            self.found.push(used);
        }
    }
    // `pub(in crate::x)` names where an item may be seen, not a use.
    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {}
    fn visit_path(&mut self, p: &'ast syn::Path) {
        self.found
            .push(p.segments.iter().map(|s| s.ident.to_string()).collect());
        syn::visit::visit_path(self, p);
    }
}

/// The module a path names, seen from `from`, if it is one of the crate's.
fn resolve(
    from: &Module,
    path: &[String],
    modules: &BTreeMap<Vec<String>, &Module>,
) -> Option<Vec<String>> {
    let mut abs: Vec<String> = match path.first().map(String::as_str) {
        Some("crate") => path[1..].to_vec(),
        Some("self") => from.path.iter().chain(&path[1..]).cloned().collect(),
        Some("super") => {
            let mut base = from.path.clone();
            let mut rest = path;
            while rest.first().is_some_and(|s| s == "super") {
                base.pop()?;
                rest = &rest[1..];
            }
            base.extend(rest.iter().cloned());
            base
        }
        Some(first) if from.children.contains(first) => {
            from.path.iter().chain(path).cloned().collect()
        }
        _ => return None,
    };
    // Follow re-exports until the path names a module's own item.
    for _ in 0..8 {
        let mut module = Vec::new();
        for seg in &abs {
            let mut next = module.clone();
            next.push(seg.clone());
            if modules.contains_key(&next) {
                module = next;
            } else {
                break;
            }
        }
        let item = abs.get(module.len());
        match item.and_then(|name| modules.get(&module).and_then(|m| m.reexports.get(name))) {
            Some(target) => {
                let mut next = target.clone();
                next.extend(abs[module.len()..].iter().cloned());
                abs = next;
            }
            None => return Some(module),
        }
    }
    None
}

/// The cycles among a crate's modules, each as its modules in order.
fn cycles(src_root: &Path) -> Result<Vec<Vec<String>>> {
    let modules = load(src_root)?;
    let by_path: BTreeMap<Vec<String>, &Module> =
        modules.iter().map(|m| (m.path.clone(), m)).collect();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for m in &modules {
        let mut v = Paths {
            module: m,
            found: Vec::new(),
        };
        v.visit_file(&m.ast);
        let targets = edges.entry(m.path.clone()).or_default();
        for p in &v.found {
            if let Some(t) = resolve(m, p, &by_path)
                && !t.is_empty()
                && t != m.path
            {
                targets.insert(t);
            }
        }
    }
    edges.remove(&Vec::new());
    // Tarjan's strongly connected components.
    struct State<'g> {
        edges: &'g BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        index: BTreeMap<&'g Vec<String>, usize>,
        low: BTreeMap<&'g Vec<String>, usize>,
        stack: Vec<&'g Vec<String>>,
        on_stack: BTreeSet<&'g Vec<String>>,
        out: Vec<Vec<String>>,
    }
    fn visit<'g>(s: &mut State<'g>, v: &'g Vec<String>) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.edges.get(v).into_iter().flatten() {
            if !s.edges.contains_key(w) {
                continue;
            }
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut scc = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                scc.push(w.join("::"));
                if w == v {
                    break;
                }
            }
            if scc.len() > 1 {
                scc.sort();
                s.out.push(scc);
            }
        }
    }
    let mut s = State {
        edges: &edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    if std::env::var_os("PRAXIS_DEPS_VERBOSE").is_some() {
        for (from, to) in &edges {
            for t in to {
                eprintln!("  {} -> {}", from.join("::"), t.join("::"));
            }
        }
    }
    Ok(s.out)
}

/// Checks every crate of the workspace; fails listing the cycles found.
pub fn check(workspace: &Path, crates: &[&str]) -> Result<()> {
    let mut found = Vec::new();
    for krate in crates {
        let src = workspace.join(krate).join("src");
        let root = if src.join("lib.rs").is_file() {
            src.join("lib.rs")
        } else {
            src.join("main.rs")
        };
        for cycle in cycles(&root)? {
            found.push(format!("{krate}: {}", cycle.join(" <-> ")));
        }
        eprintln!("xtask: deps: {krate} checked");
    }
    if !found.is_empty() {
        for f in &found {
            eprintln!("xtask: module cycle in {f}");
        }
        bail!(
            "{} module cycle(s); see ARCHITECTURE.md for the order",
            found.len()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crate_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("dir");
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, text).expect("write");
        }
        dir
    }

    #[test]
    fn a_cycle_through_a_re_export_is_found_and_a_one_way_use_is_not() {
        let lib = "mod a;\nmod b;\nmod store;\n";
        let store = "mod handle;\npub use handle::Handle;\n";
        // b reaches a's item through the parent's re-export; a uses b.
        let cyclic = crate_with(&[
            ("lib.rs", lib),
            ("a.rs", "pub struct A;\nfn f() { crate::b::g(); }\n"),
            ("b.rs", "pub fn g() {}\nuse crate::store::Handle;\n"),
            ("store/mod.rs", store),
            (
                "store/handle.rs",
                "pub struct Handle;\nfn h() -> crate::a::A { crate::a::A }\n",
            ),
        ]);
        let found = cycles(&cyclic.path().join("lib.rs")).expect("check");
        assert_eq!(found, vec![vec!["a", "b", "store::handle"]]);

        let acyclic = crate_with(&[
            ("lib.rs", lib),
            ("a.rs", "pub struct A;\nfn f() { crate::b::g(); }\n"),
            ("b.rs", "pub fn g() {}\nuse crate::store::Handle;\n"),
            ("store/mod.rs", store),
            // A test module and a visibility path are not uses.
            (
                "store/handle.rs",
                "pub(in crate::store) struct Handle;\n#[cfg(test)]\nmod tests { use crate::a::A; }\n",
            ),
        ]);
        assert!(
            cycles(&acyclic.path().join("lib.rs"))
                .expect("check")
                .is_empty()
        );
    }
}
