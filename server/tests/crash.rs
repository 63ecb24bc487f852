//! Durability under crashes (performance issue): 32 devices push while the
//! server process is killed (SIGKILL) at 30 random moments and restarted on
//! the same port and data. Every device keeps an unanswered batch in its
//! outbox and sends it again until answered, as the core does. Afterwards:
//! every mutation was answered "applied" exactly once, a replay of every
//! batch gets the first answers back verbatim (no mutation applied twice),
//! and the database holds exactly the records answered, each at the version
//! answered (nothing answered was lost, nothing unanswered is extra).
//!
//! A kill tests the process crash; a power loss is covered by the pragmas
//! (`synchronous = FULL` in WAL mode: the WAL is fsynced before a commit
//! returns, and no answer leaves before its commit), which the store's
//! own code fixes and its group commit honours.

use std::collections::BTreeMap;
use std::io::{BufRead as _, Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const USERS: usize = 4;
const DEVICES_PER_USER: usize = 8;
const KILLS: usize = 30;
const BATCH: usize = 5;

/// A server process, killed when dropped (a failing assertion must not
/// leave it running).
struct Server(Child);

impl Server {
    fn kill(&mut self) {
        self.0.kill().expect("SIGKILL");
        self.0.wait().expect("reaped");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the server on `port` (0: any) over `dir`; the process and its
/// address once it listens.
fn start(dir: &Path, port: u16) -> (Server, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_praxis-server"))
        .args([
            "--dev",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir)
        .env_remove("PRAXIS_MASTER_KEY")
        .env_remove("PRAXIS_MASTER_KEY_FILE")
        .env_remove("DATABASE_URL")
        .stderr(Stdio::piped())
        .spawn()
        .expect("start praxis-server");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = std::io::BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("the server exited before listening")
            .expect("log line");
        if line.contains("praxis-server listening")
            && let Some(rest) = line.split("addr=").nth(1)
        {
            break rest.split_whitespace().next().expect("address").to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (Server(child), addr)
}

/// One HTTP/1.1 request on its own connection: the status and JSON body,
/// or `None` when the connection failed or was cut (the server died).
fn call(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &Value,
) -> Option<(u16, Value)> {
    let body = body.to_string();
    let mut sock = TcpStream::connect(addr).ok()?;
    sock.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let auth = token.map_or(String::new(), |t| format!("authorization: Bearer {t}\r\n"));
    write!(
        sock,
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n{auth}content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut raw = Vec::new();
    sock.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (head, rest) = text.split_once("\r\n\r\n")?;
    let status: u16 = head.split_whitespace().nth(1)?.parse().ok()?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)?
    } else {
        rest.to_owned()
    };
    // A body cut short by the kill does not parse: no answer.
    let json = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&body).ok()?
    };
    Some((status, json))
}

fn dechunk(mut s: &str) -> Option<String> {
    let mut out = String::new();
    loop {
        let (size, rest) = s.split_once("\r\n")?;
        let n = usize::from_str_radix(size.trim(), 16).ok()?;
        if n == 0 {
            return Some(out);
        }
        out.push_str(rest.get(..n)?);
        s = rest.get(n + 2..)?;
    }
}

/// A device: its outbox, every mutation it made, and the first answer to
/// each.
struct Device {
    token: String,
    client_id: String,
    made: Vec<Value>,
    answers: BTreeMap<i64, Value>,
}

impl Device {
    fn batch(&self, from: usize, n: usize) -> Value {
        let end = (from + n).min(self.made.len());
        json!({ "client_id": self.client_id, "mutations": self.made[from..end] })
    }

    fn new_mutations(&mut self, n: usize) {
        let t = format!(
            "{:013}-000000-crash",
            chrono::Utc::now().timestamp_millis() - 60_000
        );
        let f = |v: Value| json!({ "v": v, "t": t });
        for _ in 0..n {
            let seq = self.made.len() as i64 + 1;
            self.made.push(json!({
                "client_seq": seq,
                "collection": "appointments",
                "id": uuid::Uuid::new_v4().to_string(),
                "fields": {
                    "title": f(json!(format!("visit {seq}: wound dressing"))),
                    "patient_label": f(json!(format!("P-{seq:06}"))),
                    "start": f(json!("2026-11-23T09:00:00Z")),
                    "duration_min": f(json!(30)),
                    "status": f(json!("scheduled")),
                }
            }));
        }
    }

    /// Sends `made[from..from + n]` until answered (across kills): the
    /// results.
    fn push_until_answered(
        &self,
        addr: &str,
        from: usize,
        n: usize,
        in_flight: &AtomicUsize,
    ) -> Vec<Value> {
        let body = self.batch(from, n);
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            in_flight.fetch_add(1, Ordering::SeqCst);
            let answer = call(addr, "POST", "/v1/sync/push", Some(&self.token), &body);
            in_flight.fetch_sub(1, Ordering::SeqCst);
            match answer {
                Some((200, a)) => {
                    return a["results"].as_array().expect("results").clone();
                }
                // Down, cut, or unavailable while starting: again.
                None | Some((503, _)) => {}
                Some((status, a)) => panic!("push answered {status}: {a}"),
            }
            assert!(Instant::now() < deadline, "no answer for two minutes");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn keep(&mut self, results: Vec<Value>) {
        for r in results {
            assert_eq!(r["status"], "applied", "{r}");
            let seq = r["client_seq"].as_i64().expect("client_seq");
            self.answers.entry(seq).or_insert(r);
        }
    }
}

fn account(addr: &str, i: usize) -> String {
    let n = uuid::Uuid::new_v4().simple().to_string();
    let email = format!("crash{i}.{}@clinic-example.org", &n[..10]);
    let password = format!("violet-tram-oboe-{}", &n[..8]);
    let person = json!({
        "email": email, "password": password, "full_name": format!("Nurse {i}"),
        "phone": "+33612345678", "country": "FR", "language": "fr-FR",
        "profession": "nurse", "date_of_birth": "1985-04-12",
    });
    let (status, a) = call(addr, "POST", "/v1/accounts", None, &person).expect("register");
    assert_eq!(status, 201, "{a}");
    let (status, a) = call(
        addr,
        "POST",
        "/v1/sessions",
        None,
        &json!({"email": email, "password": password}),
    )
    .expect("login");
    assert_eq!(status, 200, "{a}");
    a["access_token"].as_str().expect("access").to_owned()
}

/// xorshift64*: the kill moments (seed printed, so a failure can be rerun).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

#[test]
fn answered_pushes_survive_kills_and_retries_are_answered_from_the_stored_answers() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut child, addr) = start(dir.path(), 0);
    let port: u16 = addr
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    let mut devices = Vec::new();
    for u in 0..USERS {
        let token = account(&addr, u);
        for _ in 0..DEVICES_PER_USER {
            devices.push(Device {
                token: token.clone(),
                client_id: uuid::Uuid::new_v4().to_string(),
                made: Vec::new(),
                answers: BTreeMap::new(),
            });
        }
    }

    let stop = Arc::new(AtomicBool::new(false));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let pushers: Vec<_> = devices
        .into_iter()
        .map(|mut d| {
            let (addr, stop, in_flight) = (addr.clone(), Arc::clone(&stop), Arc::clone(&in_flight));
            std::thread::spawn(move || {
                // Each batch is answered before the next is made (the
                // outbox): after `stop`, the last one still is.
                while !stop.load(Ordering::SeqCst) {
                    let from = d.made.len();
                    d.new_mutations(BATCH);
                    let results = d.push_until_answered(&addr, from, BATCH, &in_flight);
                    d.keep(results);
                }
                d
            })
        })
        .collect();

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_nanos() as u64
        | 1;
    eprintln!("crash test seed {seed}");
    let mut rng = Rng(seed);
    let mut killed_in_flight = 0;
    for _ in 0..KILLS {
        std::thread::sleep(Duration::from_millis(30 + rng.below(400)));
        if in_flight.load(Ordering::SeqCst) > 0 {
            killed_in_flight += 1;
        }
        child.kill();
        child = start(dir.path(), port).0;
    }
    stop.store(true, Ordering::SeqCst);
    let devices: Vec<Device> = pushers
        .into_iter()
        .map(|t| t.join().expect("device"))
        .collect();
    assert!(
        killed_in_flight >= KILLS / 2,
        "most kills must hit pushes in flight ({killed_in_flight} of {KILLS})"
    );

    // Every mutation answered, and a replay of all of them gets the first
    // answers back verbatim: none was applied twice or lost.
    let mut expected = BTreeMap::new();
    let no_flight = AtomicUsize::new(0);
    for d in &devices {
        assert_eq!(d.answers.len(), d.made.len(), "every mutation answered");
        for from in (0..d.made.len()).step_by(50) {
            for r in d.push_until_answered(&addr, from, 50, &no_flight) {
                let seq = r["client_seq"].as_i64().expect("seq");
                assert_eq!(
                    Some(&r),
                    d.answers.get(&seq),
                    "the replay gets the stored answer"
                );
            }
        }
        for r in d.answers.values() {
            let record = &r["record"];
            let id = record["id"].as_str().expect("id").to_owned();
            let version = record["version"].as_i64().expect("version");
            assert!(
                expected.insert(id, version).is_none(),
                "one record per mutation"
            );
        }
    }
    let made: usize = devices.iter().map(|d| d.made.len()).sum();
    eprintln!(
        "{made} mutations by {} devices across {KILLS} kills ({killed_in_flight} with pushes in flight)",
        devices.len()
    );

    // The database holds exactly what was answered.
    child.kill();
    let db = rusqlite::Connection::open(dir.path().join("praxis.sqlite3")).expect("open");
    let mut stmt = db
        .prepare("SELECT record_id, seq FROM sync_records WHERE collection = 'appointments'")
        .expect("prepare");
    let stored: BTreeMap<String, i64> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(stored.len(), made, "one stored record per mutation made");
    assert_eq!(
        stored, expected,
        "every answered record at its answered version"
    );
}
