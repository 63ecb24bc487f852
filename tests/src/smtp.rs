//! A real SMTP server on loopback for the mail tests: mailin's SMTP state
//! machine (a maintained crate, the one behind mailin-embedded) driven
//! over tokio TCP, keeping every message it accepts with its envelope.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailin::{Action, Handler, Response, SessionBuilder};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// One message as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// `MAIL FROM`.
    pub from: String,
    /// `RCPT TO`s.
    pub to: Vec<String>,
    /// The message: headers and body.
    pub data: String,
}

impl Received {
    /// The first `XXXX-XXXX` code in the message.
    pub fn code(&self) -> Option<String> {
        self.data
            .split_whitespace()
            .find(|w| {
                w.len() == 9
                    && w.as_bytes()[4] == b'-'
                    && w.chars()
                        .enumerate()
                        .all(|(i, c)| i == 4 || c.is_ascii_uppercase() || c.is_ascii_digit())
            })
            .map(str::to_owned)
    }
}

type Inbox = Arc<Mutex<Vec<Received>>>;

/// The SMTP server; stops when dropped.
#[derive(Debug)]
pub struct SmtpServer {
    addr: SocketAddr,
    inbox: Inbox,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
struct Collect {
    inbox: Inbox,
    from: String,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for Collect {
    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.from = from.to_owned();
        self.to = to.to_vec();
        self.data.clear();
        mailin::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        self.inbox
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Received {
                from: self.from.clone(),
                to: self.to.clone(),
                data: String::from_utf8_lossy(&self.data).into_owned(),
            });
        mailin::response::OK
    }
}

async fn session(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    inbox: Inbox,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let handler = Collect {
        inbox,
        from: String::new(),
        to: Vec::new(),
        data: Vec::new(),
    };
    let mut smtp = SessionBuilder::new("praxis-test-smtp").build(peer.ip(), handler);
    write.write_all(&smtp.greeting().buffer()?).await?;
    let mut line = Vec::new();
    loop {
        line.clear();
        if read.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let res = smtp.process(&line);
        match res.action {
            Action::NoReply => {}
            Action::Reply | Action::UpgradeTls => write.write_all(&res.buffer()?).await?,
            Action::Close => {
                write.write_all(&res.buffer()?).await?;
                return Ok(());
            }
        }
    }
}

impl SmtpServer {
    /// Listens on a free loopback port.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind smtp");
        let addr = listener.local_addr().expect("addr");
        let inbox: Inbox = Arc::default();
        let shared = Arc::clone(&inbox);
        let task = tokio::spawn(async move {
            while let Ok((stream, peer)) = listener.accept().await {
                tokio::spawn(session(stream, peer, Arc::clone(&shared)));
            }
        });
        Self { addr, inbox, task }
    }

    /// `smtp://127.0.0.1:<port>` (plain SMTP: loopback only).
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// Every message received so far.
    pub fn received(&self) -> Vec<Received> {
        self.inbox
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Waits (up to 10 s) until `n` messages have arrived in all; returns
    /// them.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.received();
            if got.len() >= n || tokio::time::Instant::now() > deadline {
                assert!(got.len() >= n, "{} of {n} messages arrived", got.len());
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
