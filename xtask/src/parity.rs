//! The Kotlin and Swift wrappers cannot drift apart silently: every public
//! member of Kotlin's `Praxis` class has a Swift counterpart in Swift's
//! `PraxisCore` class, by the same name or by the name map kept in
//! `ios/kotlin-parity.txt` (which also says why a member has none).

use std::collections::{BTreeMap, BTreeSet};

/// The body of the top-level class that `header` opens (up to the first
/// line that is a lone closing brace).
fn class_body<'a>(source: &'a str, header: &str) -> &'a str {
    let start = source.find(header).unwrap_or(source.len());
    let rest = &source[start..];
    let end = rest.find("\n}\n").map_or(rest.len(), |i| i + 1);
    &rest[..end]
}

/// Names of identifiers following one of `prefixes` on lines indented by
/// one of `indents` spaces.
fn names_after(body: &str, indents: &[usize], prefixes: &[&str]) -> BTreeSet<String> {
    body.lines()
        .filter_map(|l| {
            let t = l.trim_start();
            if !indents.contains(&(l.len() - t.len())) {
                return None;
            }
            prefixes.iter().find_map(|p| t.strip_prefix(p))
        })
        .filter_map(|rest| {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            (!name.is_empty()).then_some(name)
        })
        .collect()
}

/// The public members of Kotlin's `Praxis`: its methods and properties
/// (indented 4) and its companion's functions (indented 8); `private`
/// ones are not API.
pub fn kotlin_members(source: &str) -> BTreeSet<String> {
    let body = class_body(source, "\nclass Praxis ");
    let mut out = names_after(
        body,
        &[4],
        &["suspend fun ", "fun ", "override fun ", "val "],
    );
    out.extend(names_after(body, &[8], &["suspend fun ", "fun "]));
    out
}

/// The public members of Swift's `PraxisCore`.
pub fn swift_members(source: &str) -> BTreeSet<String> {
    let body = class_body(source, "\npublic final class PraxisCore:");
    names_after(
        body,
        &[4],
        &[
            "public func ",
            "public static func ",
            "public var ",
            "public let ",
        ],
    )
}

/// The map: Kotlin name to Swift name, `None` for "no counterpart".
pub fn parse_map(text: &str) -> Result<BTreeMap<String, Option<String>>, String> {
    let mut out = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| format!("line {}: `kotlin = swift` or `kotlin = - why`", n + 1))?;
        let v = v.trim();
        let swift = match v.strip_prefix('-') {
            Some(why) if !why.trim().is_empty() => None,
            Some(_) => return Err(format!("line {}: say why there is no counterpart", n + 1)),
            None => Some(v.to_owned()),
        };
        out.insert(k.trim().to_owned(), swift);
    }
    Ok(out)
}

/// What is wrong: Kotlin members without a Swift counterpart, and map
/// entries that no longer match anything.
pub fn check(kotlin: &str, swift: &str, map: &str) -> Vec<String> {
    let (k, s) = (kotlin_members(kotlin), swift_members(swift));
    let map = match parse_map(map) {
        Ok(m) => m,
        Err(e) => return vec![format!("ios/kotlin-parity.txt: {e}")],
    };
    let mut wrong = Vec::new();
    for name in &k {
        match map.get(name) {
            Some(None) => {}
            Some(Some(other)) if s.contains(other) => {}
            Some(Some(other)) => wrong.push(format!(
                "{name}: mapped to Swift `{other}`, which does not exist"
            )),
            None if s.contains(name) => {}
            None => wrong.push(format!("{name}: in Kotlin, not in Swift")),
        }
    }
    for name in map.keys() {
        if !k.contains(name) {
            wrong.push(format!(
                "ios/kotlin-parity.txt lists `{name}`, which Kotlin no longer has"
            ));
        }
    }
    wrong
}

/// A test's name reduced to its words: lower-case letters and digits
/// only, so Kotlin's `` `a wrong key is refused` `` and Swift's
/// `testAWrongKeyIsRefused` are the same test.
fn test_key(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The tests of a Kotlin JUnit file (`` fun `…`() ``).
pub fn kotlin_tests(source: &str) -> BTreeSet<String> {
    source
        .lines()
        .filter_map(|l| l.trim().strip_prefix("fun `"))
        .filter_map(|rest| rest.split_once('`'))
        .map(|(name, _)| test_key(name))
        .collect()
}

/// The tests of a Swift XCTest file (`func testX()`).
pub fn swift_tests(source: &str) -> BTreeSet<String> {
    source
        .lines()
        .filter_map(|l| l.trim().strip_prefix("func test"))
        .filter_map(|rest| rest.split_once('('))
        .map(|(name, _)| test_key(name))
        .collect()
}

/// What differs between a Kotlin test file and its Swift mirror.
pub fn check_tests(file: &str, kotlin: &str, swift: &str) -> Vec<String> {
    let (k, s) = (kotlin_tests(kotlin), swift_tests(swift));
    let mut wrong: Vec<String> = k
        .difference(&s)
        .map(|t| format!("{file}: `{t}` is tested in Kotlin, not in Swift"))
        .collect();
    wrong.extend(
        s.difference(&k)
            .map(|t| format!("{file}: `{t}` is tested in Swift, not in Kotlin")),
    );
    wrong
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &str) -> String {
        std::fs::read_to_string(crate::workspace().join(path)).expect(path)
    }

    #[test]
    fn every_kotlin_member_has_a_swift_counterpart() {
        let kotlin = read("android/shared/src/main/kotlin/org/praxis/Praxis.kt");
        let swift = read("ios/Sources/Praxis/Praxis.swift");
        let map = read("ios/kotlin-parity.txt");
        assert!(
            kotlin_members(&kotlin).len() > 50,
            "the Kotlin class was found"
        );
        assert!(
            swift_members(&swift).len() > 50,
            "the Swift class was found"
        );
        let wrong = check(&kotlin, &swift, &map);
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    #[test]
    fn a_missing_or_stale_member_is_reported() {
        let kotlin = "\nclass Praxis {\n    suspend fun a()\n    fun b()\n    private fun c()\n    val d: Int\n}\n";
        let swift = "\npublic final class PraxisCore: Sendable {\n    public func a()\n    public var dd: Int\n}\n";
        let wrong = check(kotlin, swift, "d = dd\nzz = - gone\n");
        assert_eq!(
            wrong,
            vec![
                "b: in Kotlin, not in Swift".to_owned(),
                "ios/kotlin-parity.txt lists `zz`, which Kotlin no longer has".to_owned(),
            ]
        );
        assert!(check(kotlin, swift, "b = -\n")[0].contains("say why"));
    }

    /// Every Kotlin JVM test file (`XTest.kt`) has a Swift mirror
    /// (`XTests.swift`) holding the same tests by name.
    #[test]
    fn every_kotlin_test_has_a_swift_mirror() {
        let kotlin_dir = crate::workspace().join("android/jvm-tests/src/test/kotlin/org/praxis");
        let mut files = 0;
        let mut wrong = Vec::new();
        for entry in std::fs::read_dir(&kotlin_dir).expect("kotlin tests") {
            let path = entry.expect("entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let Some(stem) = name.strip_suffix("Test.kt") else {
                continue;
            };
            files += 1;
            let kotlin = std::fs::read_to_string(&path).expect("kotlin");
            assert!(!kotlin_tests(&kotlin).is_empty(), "{name}: no test found");
            let swift_path = format!("ios/Tests/PraxisTests/{stem}Tests.swift");
            match std::fs::read_to_string(crate::workspace().join(&swift_path)) {
                Ok(swift) => wrong.extend(check_tests(name, &kotlin, &swift)),
                Err(_) => wrong.push(format!("{name}: no {swift_path}")),
            }
        }
        assert!(files >= 6, "the Kotlin test files were found ({files})");
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    #[test]
    fn a_test_missing_on_either_side_is_reported() {
        let kotlin = "    @Test\n    fun `a wrong key is refused`(): Unit = runBlocking {\n    fun `only kotlin`() {}\n";
        let swift =
            "    func testAWrongKeyIsRefused() async throws {\n    func testOnlySwift() {\n";
        assert_eq!(
            check_tests("XTest.kt", kotlin, swift),
            vec![
                "XTest.kt: `onlykotlin` is tested in Kotlin, not in Swift".to_owned(),
                "XTest.kt: `onlyswift` is tested in Swift, not in Kotlin".to_owned(),
            ]
        );
    }
}
