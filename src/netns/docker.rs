//! Container names from the Docker Engine API, asked over its unix socket
//! (`/var/run/docker.sock`, or `DOCKER_HOST=unix://PATH`): one
//! `GET /containers/json` (running containers, with their names and
//! labels), HTTP/1.0 so the body ends at the end of the stream.
//!
//! The engine is optional and not trusted to be quick or well-behaved: the
//! whole exchange has a deadline, the reply is read up to a bound, and
//! anything unexpected is an error the caller notes under `-v` before
//! falling back to the ids from the cgroups.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Deserialize;

/// Longest the engine is waited for, in all.
pub const DEADLINE: Duration = Duration::from_millis(1500);
/// Largest reply read (a container's entry is ~1–2 KiB).
const REPLY_MAX: usize = 16 << 20;

/// What the engine says of one running container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    /// Its name, without Docker's leading `/`.
    pub name: String,
    /// `namespace/name` of its Kubernetes pod, from the labels the kubelet
    /// puts on the containers it starts.
    pub pod: Option<String>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(rename = "Id")]
    id: String,
    #[serde(rename = "Names", default)]
    names: Vec<String>,
    #[serde(rename = "Labels", default)]
    labels: Option<HashMap<String, String>>,
}

/// The engine's socket: `DOCKER_HOST` when it is a `unix://` address, else
/// the default.
pub fn socket_path() -> Option<PathBuf> {
    match std::env::var("DOCKER_HOST") {
        Ok(host) => host.strip_prefix("unix://").map(PathBuf::from),
        Err(_) => Some(PathBuf::from("/var/run/docker.sock")),
    }
}

/// The running containers by full id, asked of the engine at `socket`
/// within [`DEADLINE`].
pub fn containers(socket: &std::path::Path) -> io::Result<HashMap<String, Named>> {
    let started = Instant::now();
    let left = || {
        DEADLINE
            .checked_sub(started.elapsed())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| io::Error::new(io::ErrorKind::TimedOut, "no answer in time"))
    };
    let mut stream = UnixStream::connect(socket)?;
    stream.set_write_timeout(Some(left()?))?;
    stream.write_all(b"GET /containers/json HTTP/1.0\r\nHost: docker\r\n\r\n")?;
    let mut reply = Vec::new();
    let mut chunk = [0u8; 16 << 10];
    loop {
        stream.set_read_timeout(Some(left()?))?;
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        if reply.len() + n > REPLY_MAX {
            return Err(io::Error::other(format!(
                "reply longer than {REPLY_MAX} bytes"
            )));
        }
        reply.extend_from_slice(&chunk[..n]);
    }
    parse_reply(&reply)
}

/// The containers in an HTTP reply to `GET /containers/json`.
pub fn parse_reply(reply: &[u8]) -> io::Result<HashMap<String, Named>> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
    let split = reply
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let (head, body) = (&reply[..split], &reply[split + 4..]);
    let status_line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut words = status_line.split(|&b| b == b' ');
    let (version, status) = (words.next(), words.next());
    if !version.is_some_and(|v| v.starts_with(b"HTTP/1.")) || status != Some(b"200") {
        let shown = String::from_utf8_lossy(&status_line[..status_line.len().min(80)]);
        return Err(bad(&format!("engine answered {shown:?}")));
    }
    let entries: Vec<Entry> =
        serde_json::from_slice(body).map_err(|e| bad(&format!("container list: {e}")))?;
    Ok(entries
        .into_iter()
        .filter_map(|e| {
            let name = e.names.first()?.trim_start_matches('/').to_string();
            let labels = e.labels.unwrap_or_default();
            let pod = labels.get("io.kubernetes.pod.name").map(|pod| {
                match labels.get("io.kubernetes.pod.namespace") {
                    Some(ns) => format!("{ns}/{pod}"),
                    None => pod.clone(),
                }
            });
            Some((e.id, Named { name, pod }))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: &str, body: &str) -> Vec<u8> {
        format!("HTTP/1.0 {status}\r\nContent-Type: application/json\r\n\r\n{body}").into_bytes()
    }

    #[test]
    fn names_and_pods_are_read_from_the_list() {
        let body = r#"[{"Id":"aa","Names":["/api-7f9c"],"Labels":{}},
            {"Id":"bb","Names":["/k8s_app"],"Labels":{"io.kubernetes.pod.name":"web-1",
             "io.kubernetes.pod.namespace":"shop"}},
            {"Id":"cc","Names":[]},{"Id":"dd","Names":["/x"],"Labels":null}]"#;
        let found = parse_reply(&reply("200 OK", body)).unwrap();
        assert_eq!(found.len(), 3);
        assert_eq!(found["aa"].name, "api-7f9c");
        assert_eq!(found["aa"].pod, None);
        assert_eq!(found["bb"].pod.as_deref(), Some("shop/web-1"));
        assert_eq!(found["dd"].name, "x");
    }

    #[test]
    fn errors_and_garbage_are_errors() {
        for bad in [
            reply("500 Internal Server Error", "{}"),
            reply("200 OK", "{\"not\":\"a list\"}"),
            reply("200 OK", "[{\"Id\":"),
            b"HTTP/1.0 200 OK\r\n".to_vec(),
            b"\x00\x01\r\n\r\n[]".to_vec(),
            Vec::new(),
        ] {
            assert!(
                parse_reply(&bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(&bad)
            );
        }
    }

    #[test]
    fn a_silent_engine_times_out() {
        let dir = std::env::temp_dir().join(format!("tcpstat-docker-{}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        let listener = std::os::unix::net::UnixListener::bind(&dir).unwrap();
        let started = Instant::now();
        // Accepts nothing: the connect succeeds (backlog), no answer comes.
        let err = containers(&dir).unwrap_err();
        let took = started.elapsed();
        drop(listener);
        std::fs::remove_file(&dir).unwrap();
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ),
            "{err}"
        );
        assert!(took < DEADLINE + Duration::from_secs(5), "{took:?}");
    }
}
