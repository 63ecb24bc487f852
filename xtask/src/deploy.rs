//! `cargo xtask deploy-check`: runs the `bash` blocks of `docs/deploy.md`,
//! in order, as one script, in a scratch directory, against the local
//! PostgreSQL (as its `postgres` superuser): the deployment guide is only
//! true while this passes.

use std::io::Write as _;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{cargo, run, target_dir, workspace};

/// The guide's `bash` blocks, in order.
fn bash_blocks(markdown: &str) -> Vec<String> {
    fenced_blocks(markdown, "bash")
}

/// The guide's blocks fenced as `lang`, in order.
fn fenced_blocks(markdown: &str, lang: &str) -> Vec<String> {
    let opening = format!("```{lang}");
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match &mut current {
            None if line.trim_start() == opening => current = Some(String::new()),
            Some(block) if line.trim_start() == "```" => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
        }
    }
    blocks
}

/// What the check sets before the guide's first block, and undoes after.
const PRELUDE: &str = r#"set -euo pipefail
export ETC="$WORK/etc" STATE="$WORK/state" BACKUPS="$WORK/backups"
export DB=praxis_deploy_check HOST=localhost LISTEN=127.0.0.1
export PORT1=18443 PORT2=18444 METRICS1=19101 METRICS2=19102
if ! command -v sudo > /dev/null; then
  sudo() { if [ "$1" = "-u" ]; then local who=$2; shift 2; runuser -u "$who" -- "$@"; else "$@"; fi; }
fi
cleanup() {
  for f in "$STATE"/replica-*.pid; do [ -e "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
  sudo -u postgres psql -q -c "DROP DATABASE IF EXISTS ${DB}_restored" > /dev/null 2>&1 || true
  sudo -u postgres psql -q -c "DROP DATABASE IF EXISTS $DB" > /dev/null 2>&1 || true
  sudo -u postgres psql -q -c "DROP ROLE IF EXISTS $DB" > /dev/null 2>&1 || true
}
trap cleanup EXIT
"#;

pub fn check() -> Result<()> {
    let can_admin_postgres = Command::new("runuser")
        .args(["-u", "postgres", "--", "psql", "-qAtc", "SELECT 1"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !can_admin_postgres {
        if std::env::var_os("CI").is_some() {
            bail!("the deploy check needs PostgreSQL's superuser (runuser -u postgres psql) in CI");
        }
        eprintln!("xtask: ************************************************************");
        eprintln!("xtask: deploy check SKIPPED: no local PostgreSQL superuser access");
        eprintln!("xtask: (run as root with PostgreSQL started, as CI does)");
        eprintln!("xtask: ************************************************************");
        return Ok(());
    }
    run(cargo().args(["build", "-p", "praxis-server"]))?;
    let guide = std::fs::read_to_string(workspace().join("docs/deploy.md"))
        .context("reading docs/deploy.md")?;
    verify_unit(&guide)?;
    let blocks = bash_blocks(&guide);
    if blocks.len() < 5 {
        bail!(
            "docs/deploy.md: expected its bash blocks, found {}",
            blocks.len()
        );
    }
    let work = tempfile::tempdir()?;
    let script_path = work.path().join("deploy-check.sh");
    let mut script = std::fs::File::create(&script_path)?;
    script.write_all(PRELUDE.as_bytes())?;
    for (i, block) in blocks.iter().enumerate() {
        writeln!(script, "echo '== deploy guide, block {}'", i + 1)?;
        script.write_all(block.as_bytes())?;
    }
    writeln!(script, "echo '== deploy guide: every block passed'")?;
    drop(script);
    let bin = target_dir().join("debug/praxis-server");
    let status = Command::new("bash")
        .arg(&script_path)
        .env("WORK", work.path())
        .env("BIN", &bin)
        .env_remove("DATABASE_URL")
        .env_remove("PRAXIS_MASTER_KEY")
        .status()
        .context("running bash")?;
    if !status.success() {
        for i in 1..=2 {
            let log = work.path().join(format!("state/replica-{i}.log"));
            if let Ok(text) = std::fs::read_to_string(&log) {
                eprintln!("--- replica {i} log (last lines)");
                for line in text
                    .lines()
                    .rev()
                    .take(20)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                {
                    eprintln!("{line}");
                }
            }
        }
        bail!("the deploy guide failed ({status})");
    }
    Ok(())
}

/// The guide's systemd unit, checked by `systemd-analyze verify` as an
/// instance (`praxis@1`) running the binary just built: any complaint (an
/// unknown or misspelt directive, a bad value) fails the check, not only
/// the errors systemd would refuse to start on.
fn verify_unit(guide: &str) -> Result<()> {
    const UNIT_PATH: &str = "/etc/systemd/system/praxis@.service";
    let Some(unit) = fenced_blocks(guide, "ini")
        .into_iter()
        .find(|b| b.starts_with(&format!("# {UNIT_PATH}")))
    else {
        bail!("docs/deploy.md: no ini block for {UNIT_PATH}");
    };
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("xtask: systemd unit check SKIPPED: no systemd-analyze on this machine");
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let bin = target_dir().join("debug/praxis-server");
    let unit = unit.replace("/usr/local/bin/praxis-server", &bin.display().to_string());
    let path = dir.path().join("praxis@1.service");
    std::fs::write(&path, unit)?;
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .context("running systemd-analyze")?;
    let complaints = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    if !out.status.success() || !complaints.is_empty() {
        bail!("the guide's systemd unit does not verify:\n{complaints}");
    }
    eprintln!("xtask: the guide's systemd unit verifies (systemd-analyze)");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bash_blocks_are_taken_in_order() {
        let md = "x\n```bash\na\nb\n```\n```ini\nno\n```\n```bash\nc\n```\n";
        assert_eq!(bash_blocks(md), vec!["a\nb\n".to_owned(), "c\n".to_owned()]);
        assert_eq!(fenced_blocks(md, "ini"), vec!["no\n".to_owned()]);
    }
}
