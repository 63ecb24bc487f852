//! The register of processing (`docs/processing-register.json`, GDPR
//! Art. 30) lists every table and column the migrations create, each with
//! a purpose, legal basis, recipients, retention and protection: a new
//! column that the register does not describe fails this test.

use std::collections::{BTreeMap, BTreeSet};

use praxis_server::store::schema::MIGRATIONS;
use serde_json::Value;

/// Every `table -> columns` the migrations create or add.
fn schema() -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (_, ddl) in MIGRATIONS {
        // Each migration file opens with its table essay in `--` comments.
        let ddl: Vec<&str> = ddl
            .lines()
            .filter(|l| !l.trim_start().starts_with("--"))
            .collect();
        for stmt in ddl.join("\n").split(';') {
            let stmt = stmt.trim();
            if let Some(rest) = stmt.strip_prefix("CREATE TABLE ") {
                let (name, body) = rest.split_once('(').expect("a column list");
                let cols = out.entry(name.trim().to_owned()).or_default();
                for line in body.lines() {
                    let line = line.trim();
                    let first = line.split_whitespace().next().unwrap_or("");
                    if first.is_empty()
                        || first == ")"
                        || line.starts_with("PRIMARY KEY")
                        || line.starts_with("UNIQUE")
                    {
                        continue;
                    }
                    cols.insert(first.to_owned());
                }
            } else if let Some(rest) = stmt.strip_prefix("ALTER TABLE ") {
                let words: Vec<&str> = rest.split_whitespace().collect();
                let cols = out.entry(words[0].to_owned()).or_default();
                match words[1..] {
                    ["ADD", "COLUMN", col, ..] => {
                        cols.insert(col.to_owned());
                    }
                    ["DROP", "COLUMN", col] => {
                        assert!(cols.remove(col), "dropping unknown column {col}");
                    }
                    ["RENAME", "COLUMN", from, "TO", to] => {
                        assert!(cols.remove(from), "renaming unknown column {from}");
                        cols.insert(to.to_owned());
                    }
                    _ => panic!("an ALTER TABLE this parser does not know: {stmt}"),
                }
            }
        }
    }
    out
}

fn register() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/processing-register.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("register file")).expect("JSON")
}

/// Everything wrong with `reg` against `schema`.
fn problems(schema: &BTreeMap<String, BTreeSet<String>>, reg: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let empty = serde_json::Map::new();
    let tables = reg["tables"].as_object().unwrap_or(&empty);
    for (table, cols) in schema {
        let Some(entry) = tables.get(table) else {
            out.push(format!("table {table} is not in the register"));
            continue;
        };
        for key in ["purpose", "legal_basis", "retention", "protection"] {
            if entry[key].as_str().is_none_or(|s| s.trim().is_empty()) {
                out.push(format!("{table}: {key} missing"));
            }
        }
        if !entry["recipients"].is_array() {
            out.push(format!("{table}: recipients missing"));
        }
        let listed = entry["columns"].as_object().unwrap_or(&empty);
        for col in cols {
            match listed.get(col) {
                None => out.push(format!("column {table}.{col} is not in the register")),
                Some(c) if !c["personal"].is_boolean() || !c["category"].is_string() => {
                    out.push(format!("{table}.{col}: personal and category needed"));
                }
                Some(_) => {}
            }
        }
        for col in listed.keys().filter(|c| !cols.contains(*c)) {
            out.push(format!(
                "the register lists {table}.{col}, which does not exist"
            ));
        }
    }
    for table in tables.keys().filter(|t| !schema.contains_key(*t)) {
        out.push(format!(
            "the register lists table {table}, which does not exist"
        ));
    }
    out
}

#[test]
fn every_column_of_the_schema_is_in_the_register_and_nothing_else() {
    let schema = schema();
    assert!(schema.contains_key("users") && schema["users"].contains("sealed"));
    assert!(schema["users"].contains("restricted_at"), "ALTERs are read");
    assert!(schema["users"].contains("email_index") && !schema["users"].contains("email"));
    assert!(
        !schema["users"].contains("full_name"),
        "DROP COLUMN is read"
    );
    let found = problems(&schema, &register());
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn a_column_or_table_missing_from_the_register_is_caught() {
    let schema = schema();
    let mut reg = register();
    reg["tables"]["users"]["columns"]
        .as_object_mut()
        .expect("columns")
        .remove("sealed");
    reg["tables"]
        .as_object_mut()
        .expect("tables")
        .remove("location_positions");
    reg["tables"]["orgs"]["retention"] = Value::Null;
    let found = problems(&schema, &reg);
    for expected in [
        "column users.sealed is not in the register",
        "table location_positions is not in the register",
        "orgs: retention missing",
    ] {
        assert!(
            found.iter().any(|f| f == expected),
            "{expected}: {found:#?}"
        );
    }
}

/// Whether a stated retention has a time limit (which only a job keeps).
fn timed(retention: &str) -> bool {
    let r = retention.to_lowercase();
    ["minute", "hour", "day", "month", "window"]
        .iter()
        .any(|unit| r.contains(unit))
}

#[test]
fn every_stated_retention_is_enforced() {
    use praxis_server::jobs::{ENFORCED, Enforced};
    let reg = register();
    let tables = reg["tables"].as_object().expect("tables");
    let report = format!("{:?}", praxis_server::jobs::Report::default());
    let mut wrong = Vec::new();
    for (table, entry) in tables {
        let retention = entry["retention"].as_str().unwrap_or_default();
        match ENFORCED.iter().find(|(t, _)| t == table).map(|(_, e)| *e) {
            None => wrong.push(format!("{table}: no enforcement listed in jobs::ENFORCED")),
            Some(Enforced::Job(field)) => {
                if !report.contains(&format!("{field}: ")) {
                    wrong.push(format!(
                        "{table}: job {field} is not a field of jobs::Report"
                    ));
                }
            }
            Some(Enforced::Event(_) | Enforced::Kept) => {
                // A time limit other than "at once" needs a job; "12 months
                // after the account is closed" is kept by erasure deleting
                // at once (no closed-but-kept state exists).
                if timed(retention) && !retention.contains("erasure deletes at once") {
                    wrong.push(format!(
                        "{table}: the register states a time limit ({retention}) that no job enforces"
                    ));
                }
            }
        }
    }
    for (table, _) in ENFORCED {
        if !tables.contains_key(*table) {
            wrong.push(format!("jobs::ENFORCED lists {table}, not in the register"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}
