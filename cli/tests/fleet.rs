//! The edge fleet against a real registry (Debian's `docker-registry`):
//! push, pull, sign and verify round trips and the attacks on them (a
//! swapped layer, a signature by the wrong key, no signature); a node
//! deploying `--from` a registry under trust keys; and a fleet of ten
//! nodes in two rings following tags under load — tag moves converge with
//! no failed request, a bad canary is rolled back by the guard and never
//! reaches stable, an unsigned version is refused, the registry going away
//! changes nothing, and a node restarted with the registry down serves its
//! last good version.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use edgeserve_test_support::{Registry, Repo, Server, components, run, tempfile, wait_until};
use reqwest::blocking::Client;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_edgeserve");

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// A key pair from `edgeserve keygen`: (private, public) paths.
fn keygen(dir: &Path, name: &str, ed25519: bool) -> (String, String) {
    let prefix = dir.join(name);
    let mut args = vec!["keygen", "--out", prefix.to_str().unwrap()];
    if ed25519 {
        args.push("--ed25519");
    }
    let (code, _, err) = run(BIN, &args).unwrap();
    assert_eq!(code, 0, "{err}");
    let p = |ext: &str| format!("{}.{ext}", prefix.display());
    (p("key"), p("pub"))
}

fn cli(args: &[&str]) -> (i32, String, String) {
    run(BIN, args).unwrap()
}

/// An echo version of the fault fixture: answers carry `offset`.
fn echo(offset: u32) -> String {
    format!("[config]\nmode = \"echo\"\noffset = \"{offset}\"\n[limits]\ndeadline = \"5s\"\n")
}

fn push(dir: &Path, reference: &str, extra: &[&str]) -> String {
    let mut args = vec!["push", dir.to_str().unwrap(), reference];
    args.extend_from_slice(extra);
    let (code, out, err) = cli(&args);
    assert_eq!(code, 0, "push failed: {err}");
    let digest = out.trim().to_string();
    assert!(digest.starts_with("sha256:"), "{out}");
    digest
}

/// The version answering an inference on `m`, or the failure.
fn score(c: &Client, s: &Server) -> Result<String, String> {
    let body = json!({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]});
    match c.post(s.url("/v2/models/m/infer")).json(&body).send() {
        Ok(r) if r.status().is_success() => {
            let v: Value = r.json().map_err(|e| e.to_string())?;
            Ok(v["model_version"].as_str().unwrap_or_default().to_string())
        }
        Ok(r) => Err(format!("{} {}", r.status(), r.text().unwrap_or_default())),
        Err(e) => Err(e.to_string()),
    }
}

fn status(c: &Client, s: &Server) -> Value {
    c.get(s.admin_url("/admin/v1/models"))
        .send()
        .and_then(|r| r.json())
        .unwrap_or(Value::Null)
}

fn follow_state(c: &Client, s: &Server) -> Value {
    status(c, s)["fleet"]["follows"][0].clone()
}

#[test]
fn push_pull_sign_verify_round_trip_and_attacks_are_refused() {
    let reg = Registry::start().unwrap();
    let work = tempfile::tempdir().unwrap();
    let (key, public) = keygen(work.path(), "release", false);
    let (_, wrong) = keygen(work.path(), "intruder", true);
    let repo = Repo::new().unwrap();
    let dir = repo.add_example("iris", "3", components::IRIS).unwrap();
    let reference = format!("{}/models/iris:3", reg.addr);
    let digest = push(&dir, &reference, &[]);

    // Pulled back, every file is the one pushed.
    let out = work.path().join("pulled");
    let (code, got, err) = cli(&["pull", &reference, "--out", out.to_str().unwrap()]);
    assert_eq!((code, got.trim()), (0, digest.as_str()), "{err}");
    for f in ["manifest.toml", "model.wasm", "smoke.json"] {
        assert_eq!(
            std::fs::read(out.join(f)).unwrap(),
            std::fs::read(dir.join(f)).unwrap(),
            "{f}"
        );
    }
    // Pushing the same folder again is the same digest (content-addressed).
    assert_eq!(push(&dir, &reference, &[]), digest);

    // No signature: refused, never "nothing to check".
    let (code, _, err) = cli(&["verify", &reference, "--key", &public]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("is not signed"), "{err}");
    let refused = work.path().join("refused");
    let (code, _, err) = cli(&[
        "pull",
        &reference,
        "--out",
        refused.to_str().unwrap(),
        "--key",
        &public,
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("is not signed"), "{err}");
    assert!(
        !refused.exists(),
        "nothing is written for a refused version"
    );

    // Signed: our key verifies it, another key does not.
    let (code, out_digest, err) = cli(&["sign", &reference, "--key", &key]);
    assert_eq!((code, out_digest.trim()), (0, digest.as_str()), "{err}");
    let (code, out, err) = cli(&["verify", &reference, "--key", &public]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&digest), "{out}");
    let (code, _, err) = cli(&["verify", &reference, "--key", &wrong]);
    assert_eq!(code, 1);
    assert!(err.contains("no trusted key verifies"), "{err}");
    // The signature is where cosign keeps it.
    let sig_tag = format!(
        "/v2/models/iris/manifests/{}.sig",
        digest.replacen(':', "-", 1)
    );
    let (status_code, body) = reg.get(&sig_tag).unwrap();
    assert_eq!(status_code, 200);
    let sig: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        sig["layers"][0]["mediaType"],
        "application/vnd.dev.cosign.simplesigning.v1+json"
    );
    assert!(sig["layers"][0]["annotations"]["dev.cosignproject.cosign/signature"].is_string());

    // A node with the trust key deploys the signed version from the
    // registry; another repository's unsigned version is refused (422)
    // and the running version keeps serving.
    let unsigned_ref = format!("{}/models/unsigned:1", reg.addr);
    push(&dir, &unsigned_ref, &[]);
    let cfg = work.path().join("node.toml");
    std::fs::write(&cfg, format!("[fleet]\ntrust_keys = [{:?}]\n", public)).unwrap();
    let node = Server::start(BIN, &["--config", cfg.to_str().unwrap()]).unwrap();
    let admin = node.admin_url("");
    let admin = admin.trim_end_matches('/');
    let (code, out, err) = cli(&[
        "deploy",
        "iris",
        "3",
        "--from",
        &format!("oci://{reference}"),
        "--admin",
        admin,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let c = client();
    let body = std::fs::read(dir.join("smoke.json")).unwrap();
    let r = c
        .post(node.url("/v2/models/iris/infer"))
        .body(body.clone())
        .header("content-type", "application/json")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let (code, _, err) = cli(&[
        "deploy",
        "iris",
        "4",
        "--from",
        &format!("oci://{unsigned_ref}"),
        "--admin",
        admin,
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("is not signed"), "{err}");
    assert!(
        node.wait_for_log("fleet_refused", Duration::from_secs(5)),
        "audit line missing"
    );
    let versions = status(&c, &node)["models"][0]["versions"].clone();
    assert_eq!(versions.as_array().map(Vec::len), Some(1), "{versions}");

    // A swapped layer (an attacker with write access to the registry's
    // storage): refused by its digest, nothing written.
    let (_, manifest) = reg
        .get(&format!("/v2/models/iris/manifests/{digest}"))
        .unwrap();
    let manifest: Value = serde_json::from_slice(&manifest).unwrap();
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    let file = reg.blob_file(layer);
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&file, &bytes).unwrap();
    let tampered = work.path().join("tampered");
    let (code, _, err) = cli(&[
        "pull",
        &reference,
        "--out",
        tampered.to_str().unwrap(),
        "--key",
        &public,
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("tampered") || err.contains("digest"), "{err}");
    assert!(!tampered.join("model.wasm").exists());
    // The node's blob cache holds that layer already (by digest, as it
    // was): a version whose config it has never seen is swapped instead.
    // Refused, and version 3 keeps serving.
    let other = format!("{}/models/iris:7", reg.addr);
    let d7 = push(&dir, &other, &["--version", "7", "--sign-key", &key]);
    let (_, m7) = reg.get(&format!("/v2/models/iris/manifests/{d7}")).unwrap();
    let m7: Value = serde_json::from_slice(&m7).unwrap();
    let file = reg.blob_file(m7["config"]["digest"].as_str().unwrap());
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[0] ^= 0x01;
    std::fs::write(&file, &bytes).unwrap();
    let (code, _, err) = cli(&[
        "deploy",
        "iris",
        "7",
        "--from",
        &format!("oci://{other}"),
        "--admin",
        admin,
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("tampered"), "{err}");
    let r = c
        .post(node.url("/v2/models/iris/infer"))
        .body(body)
        .header("content-type", "application/json")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// A node of the fleet test: its ring, state folder and process.
struct FleetNode {
    ring: &'static str,
    config: PathBuf,
    state: PathBuf,
    server: Server,
}

fn start_node(config: &Path, state: &Path) -> Server {
    Server::start(
        BIN,
        &[
            "--config",
            config.to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
        ],
    )
    .unwrap()
}

fn versions(c: &Client, nodes: &[FleetNode], ring: Option<&str>) -> Vec<String> {
    nodes
        .iter()
        .filter(|n| ring.is_none_or(|r| n.ring == r))
        .map(|n| score(c, &n.server).unwrap_or_else(|e| format!("error {e}")))
        .collect()
}

fn converge(c: &Client, nodes: &[FleetNode], ring: Option<&str>, version: &str) {
    let ok = wait_until(Duration::from_secs(60), || {
        versions(c, nodes, ring).iter().all(|v| v == version)
    });
    let states: Vec<Value> = nodes
        .iter()
        .filter(|n| ring.is_none_or(|r| n.ring == r))
        .map(|n| json!({"fleet": status(c, &n.server)["fleet"], "events": status(c, &n.server)["events"]}))
        .collect();
    assert!(
        ok,
        "ring {ring:?} did not converge on {version}: {:?}\n{states:#?}",
        versions(c, nodes, ring)
    );
}

#[test]
fn a_fleet_in_two_rings_follows_its_tags() {
    let mut reg = Registry::start().unwrap();
    let work = tempfile::tempdir().unwrap();
    let (key, public) = keygen(work.path(), "release", false);
    let repo = Repo::new().unwrap();
    let guard = "[rollout]\nmax_error_rate = 0.2\nwindow = \"30s\"\nmin_requests = 5\n";
    let v1 = repo.add("m", "1", components::FAULTY, &echo(100)).unwrap();
    let v2 = repo.add("m", "2", components::FAULTY, &echo(200)).unwrap();
    let bad = repo
        .add(
            "m",
            "3",
            components::FAULTY,
            &format!("[config]\nmode = \"error\"\n{guard}"),
        )
        .unwrap();
    let unsigned = repo.add("m", "4", components::FAULTY, &echo(400)).unwrap();
    let v5 = repo.add("m", "5", components::FAULTY, &echo(500)).unwrap();
    let addr = reg.addr.clone();
    let tag = |ring: &str| format!("{addr}/fleet/m:{ring}");
    let signed = ["--sign-key", key.as_str()];
    push(&v1, &tag("canary"), &signed);
    push(&v1, &tag("stable"), &signed);

    // Ten nodes: three in the canary ring, seven in stable.
    let mut nodes = Vec::new();
    for i in 0..10 {
        let ring = if i < 3 { "canary" } else { "stable" };
        let config = work.path().join(format!("node-{i}.toml"));
        std::fs::write(
            &config,
            format!(
                "[state]\nguard_interval = \"200ms\"\n\n[fleet]\nring = \"{ring}\"\n\
                 trust_keys = [{public:?}]\npoll_min = \"200ms\"\npoll_max = \"1s\"\n\n\
                 [[fleet.follow]]\nmodel = \"m\"\nreference = \"{}/fleet/m:{{ring}}\"\n",
                reg.addr
            ),
        )
        .unwrap();
        let state = work.path().join(format!("state-{i}"));
        let server = start_node(&config, &state);
        nodes.push(FleetNode {
            ring,
            config,
            state,
            server,
        });
    }
    let c = client();
    converge(&c, &nodes, None, "1");
    for n in &nodes {
        let ready = wait_until(Duration::from_secs(5), || {
            c.get(n.server.url("/v2/health/ready"))
                .send()
                .is_ok_and(|r| r.status() == 200)
        });
        assert!(ready, "a node with its followed model loaded is ready");
    }

    // A load client calls every node the whole time. Failures are counted
    // on every node, except on canary nodes while the bad version is out.
    let stop = Arc::new(AtomicBool::new(false));
    let bad_phase = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let calls = Arc::new(AtomicU64::new(0));
    let targets: Vec<(String, &'static str)> = nodes
        .iter()
        .map(|n| (n.server.url("/v2/models/m/infer"), n.ring))
        .collect();
    let load = {
        let (stop, bad_phase, failures, calls) = (
            stop.clone(),
            bad_phase.clone(),
            failures.clone(),
            calls.clone(),
        );
        std::thread::spawn(move || {
            let c = client();
            let body =
                json!({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]});
            while !stop.load(Ordering::Relaxed) {
                for (url, ring) in &targets {
                    let ok = c
                        .post(url)
                        .json(&body)
                        .send()
                        .map(|r| r.status().is_success());
                    calls.fetch_add(1, Ordering::Relaxed);
                    let expected = *ring == "canary" && bad_phase.load(Ordering::Relaxed);
                    if !matches!(ok, Ok(true)) && !expected {
                        failures.lock().unwrap().push(format!("{url}: {ok:?}"));
                    }
                }
            }
        })
    };

    // Move the canary tag: the canary ring converges, stable stays.
    push(&v2, &tag("canary"), &signed);
    converge(&c, &nodes, Some("canary"), "2");
    assert!(
        versions(&c, &nodes, Some("stable"))
            .iter()
            .all(|v| v == "1")
    );
    // Then stable: everyone converges. The layers were pulled once per
    // node (stable nodes pull version 2 for the first time; canary nodes
    // pulled it already).
    push(&v2, &tag("stable"), &signed);
    converge(&c, &nodes, None, "2");
    assert!(
        failures.lock().unwrap().is_empty(),
        "requests failed during tag moves: {:?}",
        failures.lock().unwrap()
    );

    // A bad version on canary: the guard rolls it back on those nodes,
    // each reports it, and stable never runs it.
    bad_phase.store(true, Ordering::Relaxed);
    push(&bad, &tag("canary"), &signed);
    let canary: Vec<&FleetNode> = nodes.iter().filter(|n| n.ring == "canary").collect();
    let rolled_back = wait_until(Duration::from_secs(60), || {
        canary
            .iter()
            .all(|n| follow_state(&c, &n.server)["state"] == "rolled back")
    });
    let states: Vec<Value> = canary.iter().map(|n| follow_state(&c, &n.server)).collect();
    assert!(rolled_back, "{states:?}");
    for s in &states {
        assert_eq!(s["version"], 3);
        assert_eq!(s["serving"], false);
    }
    let admin = canary[0].server.admin_url("");
    let (_, table, _) = cli(&["status", "--admin", admin.trim_end_matches('/')]);
    assert!(table.contains("fleet: ring canary"), "{table}");
    assert!(table.contains("version 3"), "{table}");
    assert!(table.contains("rolled back"), "{table}");
    converge(&c, &nodes, Some("canary"), "2");
    bad_phase.store(false, Ordering::Relaxed);
    for n in nodes.iter().filter(|n| n.ring == "stable") {
        let st = status(&c, &n.server);
        assert!(
            !st["models"][0]["versions"]
                .to_string()
                .contains("\"version\":\"3\""),
            "version 3 reached a stable node: {st}"
        );
    }

    // An unsigned version on stable: refused, visible in status; version 2
    // keeps serving.
    push(&unsigned, &tag("stable"), &[]);
    let stable: Vec<&FleetNode> = nodes.iter().filter(|n| n.ring == "stable").collect();
    let refused = wait_until(Duration::from_secs(30), || {
        stable
            .iter()
            .all(|n| follow_state(&c, &n.server)["state"] == "refused")
    });
    assert!(refused, "{}", follow_state(&c, &stable[0].server));
    let st = follow_state(&c, &stable[0].server);
    assert!(
        st["error"]
            .as_str()
            .unwrap_or_default()
            .contains("is not signed"),
        "{st}"
    );
    assert!(st["refusals"].as_u64().unwrap_or_default() >= 1);
    assert!(
        versions(&c, &nodes, Some("stable"))
            .iter()
            .all(|v| v == "2")
    );
    // ... and in metrics, and the audit log.
    let metrics = c
        .get(stable[0].server.admin_url("/metrics"))
        .send()
        .and_then(|r| r.text())
        .unwrap_or_default();
    let refusals = metrics
        .lines()
        .find(|l| l.starts_with("edgeserve_fleet_refusals") && l.contains("model=\"m\""))
        .unwrap_or_default();
    assert!(refusals.ends_with(" 1"), "{refusals}\n{metrics}");
    assert!(
        stable[0].server.log().contains("fleet_refused"),
        "no audit line for the refusal"
    );
    // The tag moved back to what serves: the refusal is over.
    push(&v2, &tag("stable"), &signed);
    let back = wait_until(Duration::from_secs(30), || {
        stable
            .iter()
            .all(|n| follow_state(&c, &n.server)["state"] == "applied")
    });
    assert!(back, "{}", follow_state(&c, &stable[0].server));

    // The registry goes away: every node keeps serving and says so.
    reg.stop();
    let unreachable = wait_until(Duration::from_secs(30), || {
        follow_state(&c, &nodes[0].server)["state"] == "unreachable"
    });
    assert!(unreachable, "{}", follow_state(&c, &nodes[0].server));
    std::thread::sleep(Duration::from_secs(2));
    // It comes back and a new version reaches everyone.
    reg.resume().unwrap();
    push(&v5, &tag("canary"), &signed);
    push(&v5, &tag("stable"), &signed);
    converge(&c, &nodes, None, "5");
    stop.store(true, Ordering::Relaxed);
    load.join().unwrap();
    let failed = failures.lock().unwrap().clone();
    assert!(failed.is_empty(), "failed requests: {failed:?}");
    assert!(calls.load(Ordering::Relaxed) > 100);

    // The fleet view: every ring converged on its tag.
    let nodes_file = work.path().join("nodes.toml");
    let mut text = String::new();
    for (i, n) in nodes.iter().enumerate() {
        text.push_str(&format!(
            "[[node]]\nname = \"node-{i}\"\nadmin = {:?}\n",
            n.server.admin_url("").trim_end_matches('/')
        ));
    }
    std::fs::write(&nodes_file, text).unwrap();
    let (code, out, err) = cli(&[
        "fleet",
        "status",
        "--nodes",
        nodes_file.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let rings = report["models"][0]["rings"].as_array().unwrap().clone();
    let count = |ring: &str| {
        rings.iter().find(|r| r["ring"] == ring).map(|r| {
            (
                r["nodes"].as_u64(),
                r["on_tag"].as_u64(),
                r["converged"].as_bool(),
            )
        })
    };
    assert_eq!(
        count("canary"),
        Some((Some(3), Some(3), Some(true))),
        "{out}"
    );
    assert_eq!(
        count("stable"),
        Some((Some(7), Some(7), Some(true))),
        "{out}"
    );
    let (code, table, _) = cli(&["fleet", "status", "--nodes", nodes_file.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(table.contains("fleet converged"), "{table}");

    // A node killed and restarted while the registry is down serves its
    // last good version from its state folder.
    reg.stop();
    let mut last = nodes.pop().unwrap();
    last.server.signal("KILL").unwrap();
    last.server.wait_exit(Duration::from_secs(10)).unwrap();
    let again = start_node(&last.config, &last.state);
    let served = wait_until(Duration::from_secs(30), || {
        score(&c, &again).is_ok_and(|v| v == "5")
    });
    assert!(served, "{:?}\n{}", score(&c, &again), again.log());
    let r = c.get(again.url("/v2/health/ready")).send().unwrap();
    assert_eq!(r.status(), 200, "ready offline with its restored version");
    let st = follow_state(&c, &again);
    assert_eq!(st["version"], 5, "{st}");
}

/// `Type=notify`: READY=1 only once the followed model has a version, and
/// the watchdog pings while the node lives.
#[test]
fn systemd_hears_ready_and_the_watchdog() {
    use std::os::unix::net::UnixDatagram;
    let reg = Registry::start().unwrap();
    let work = tempfile::tempdir().unwrap();
    let socket_path = work.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let config = work.path().join("node.toml");
    std::fs::write(
        &config,
        format!(
            "[fleet]\npoll_min = \"200ms\"\npoll_max = \"1s\"\n[[fleet.follow]]\nmodel = \"m\"\n\
             reference = \"{}/m:stable\"\n",
            reg.addr
        ),
    )
    .unwrap();
    let node = Server::start_with_env(
        BIN,
        &["--config", config.to_str().unwrap()],
        &[
            ("NOTIFY_SOCKET", socket_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "400000"),
        ],
    )
    .unwrap();
    let c = client();
    // Nothing followed is loaded yet: not ready, for probes and systemd.
    let r = c.get(node.url("/v2/health/ready")).send().unwrap();
    assert_eq!(r.status(), 503);
    let mut buf = [0u8; 256];
    let heard = |buf: &mut [u8]| {
        let n = socket.recv(buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    assert_eq!(
        heard(&mut buf),
        "WATCHDOG=1",
        "the watchdog pings before ready"
    );
    let repo = Repo::new().unwrap();
    let v1 = repo.add("m", "1", components::FAULTY, &echo(100)).unwrap();
    push(&v1, &format!("{}/m:stable", reg.addr), &[]);
    let mut got = Vec::new();
    while !got.iter().any(|m: &String| m == "READY=1") {
        got.push(heard(&mut buf));
        assert!(got.len() < 200, "no READY=1: {got:?}");
    }
    let r = c.get(node.url("/v2/health/ready")).send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(score(&c, &node), Ok("1".to_string()));
}

/// The unit file passes `systemd-analyze verify`, and the Kubernetes
/// manifests pass a schema validator (kubernetes-validate, from PyPI).
#[test]
fn deployment_files_validate() {
    let root = edgeserve_test_support::repo_root();
    let work = tempfile::tempdir().unwrap();
    // systemd-analyze checks that ExecStart's program exists: point it at
    // the binary under test.
    let unit = std::fs::read_to_string(root.join("deploy/systemd/edgeserve.service")).unwrap();
    for key in [
        "Type=notify",
        "WatchdogSec=",
        "User=edgeserve",
        "ProtectSystem=strict",
        "ReadWritePaths=",
        "NoNewPrivileges=yes",
        "MemoryMax=",
    ] {
        assert!(unit.contains(key), "the unit lacks {key}");
    }
    let unit = unit.replace("/usr/local/bin/edgeserve", BIN);
    let path = work.path().join("edgeserve.service");
    std::fs::write(&path, unit).unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .expect("systemd-analyze (Debian's systemd package) is needed");
    let err = String::from_utf8_lossy(&out.stderr);
    // Only complaints about this unit count (the host's own units may
    // have theirs).
    let ours: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("edgeserve.service"))
        .collect();
    assert!(out.status.success() && ours.is_empty(), "{err}");

    let python = edgeserve_test_support::python_venv("py-k8s", "tests/python/requirements-k8s.txt");
    let manifests: Vec<PathBuf> = std::fs::read_dir(root.join("deploy/kubernetes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    assert!(manifests.len() >= 3);
    let out = std::process::Command::new(python.parent().unwrap().join("kubernetes-validate"))
        .args(["--strict", "--kubernetes-version", "1.30.0"])
        .args(&manifests)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("passed for resource daemonset/edgeserve-stable"),
        "{text}"
    );
    assert!(
        text.contains("passed for resource daemonset/edgeserve-canary"),
        "{text}"
    );
}

/// Pushes a CNCF single-layer Wasm artifact (what `wkg oci push` and
/// wasmCloud make: a `application/vnd.wasm.config.v0+json` config and one
/// `application/wasm` layer) and returns its digest.
fn push_cncf(reference: &str, wasm: &[u8]) -> String {
    use edgeserve_node::fleet::artifact::{
        Blob, CNCF_WASM_CONFIG, Descriptor, ImageManifest, MANIFEST_MEDIA_TYPE, Packed,
        WASM_MEDIA_TYPE, digest_of,
    };
    use edgeserve_node::fleet::remote::{Remote, RemoteOptions, parse_reference};
    let blob = |media_type: &str, bytes: Vec<u8>| Blob {
        descriptor: Descriptor {
            media_type: media_type.to_string(),
            digest: digest_of(&bytes),
            size: bytes.len() as u64,
            annotations: Default::default(),
        },
        bytes,
    };
    let config = blob(
        CNCF_WASM_CONFIG,
        br#"{"architecture":"wasm","os":"wasip2","layerDigests":[]}"#.to_vec(),
    );
    let layer = blob(WASM_MEDIA_TYPE, wasm.to_vec());
    let image = ImageManifest {
        schema_version: 2,
        media_type: Some(MANIFEST_MEDIA_TYPE.to_string()),
        artifact_type: None,
        config: config.descriptor.clone(),
        layers: vec![layer.descriptor.clone()],
    };
    let manifest = serde_json::to_vec(&image).unwrap();
    let packed = Packed {
        digest: digest_of(&manifest),
        manifest,
        config,
        layers: vec![layer],
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let remote = Remote::new(
            parse_reference(reference).unwrap(),
            RemoteOptions::default(),
        )
        .unwrap();
        let digest = remote.push(&packed).await.unwrap();
        remote.tag(&packed).await.unwrap();
        digest
    })
}

/// The other actions: a new digest becomes the canary (with its weight)
/// or the shadow of a model whose primary comes from elsewhere; and a
/// CNCF Wasm artifact (no manifest, no version number) deploys as the next
/// version.
#[test]
fn canary_and_shadow_actions_and_cncf_artifacts() {
    let reg = Registry::start().unwrap();
    let work = tempfile::tempdir().unwrap();
    let repo = Repo::new().unwrap();
    repo.add("c", "1", components::FAULTY, &echo(100)).unwrap();
    repo.add("s", "1", components::FAULTY, &echo(100)).unwrap();
    let next = Repo::new().unwrap();
    let c2 = next.add("c", "2", components::FAULTY, &echo(200)).unwrap();
    let s2 = next.add("s", "2", components::FAULTY, &echo(200)).unwrap();
    let config = work.path().join("node.toml");
    std::fs::write(
        &config,
        format!(
            "[fleet]\npoll_min = \"200ms\"\npoll_max = \"1s\"\n\
             [[fleet.follow]]\nmodel = \"c\"\nreference = \"{0}/c:next\"\naction = \"canary\"\nweight = 30\n\
             [[fleet.follow]]\nmodel = \"s\"\nreference = \"{0}/s:next\"\naction = \"shadow\"\n\
             [[fleet.follow]]\nmodel = \"w\"\nreference = \"{0}/w:latest\"\n",
            reg.addr
        ),
    )
    .unwrap();
    push(&c2, &format!("{}/c:next", reg.addr), &[]);
    push(&s2, &format!("{}/s:next", reg.addr), &[]);
    push_cncf(
        &format!("{}/w:latest", reg.addr),
        &std::fs::read(components::FAULTY).unwrap(),
    );
    let node = Server::start(
        BIN,
        &[
            "--config",
            config.to_str().unwrap(),
            "--repository",
            repo.path().to_str().unwrap(),
        ],
    )
    .unwrap();
    let c = client();
    let model = |name: &str| {
        status(&c, &node)["models"]
            .as_array()
            .and_then(|m| m.iter().find(|m| m["name"] == name).cloned())
            .unwrap_or(Value::Null)
    };
    let applied = wait_until(Duration::from_secs(60), || {
        status(&c, &node)["fleet"]["follows"]
            .as_array()
            .is_some_and(|f| f.iter().all(|f| f["state"] == "applied"))
    });
    assert!(applied, "{}", status(&c, &node)["fleet"]);
    assert_eq!(model("c")["primary"], "1");
    assert_eq!(model("c")["canary"], json!({"version": "2", "weight": 30}));
    assert_eq!(model("s")["primary"], "1");
    assert_eq!(model("s")["shadow"], "2");
    assert_eq!(model("w")["primary"], "1");
    let body = json!({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]});
    let r: Value = c
        .post(node.url("/v2/models/w/infer"))
        .json(&body)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(r["outputs"][0]["data"][0], 1.0, "{r}");
    // The status table says what each model follows.
    let admin = node.admin_url("");
    let (code, table, err) = cli(&["status", "--admin", admin.trim_end_matches('/')]);
    assert_eq!(code, 0, "{err}");
    assert!(table.contains("fleet: ring -"), "{table}");
    assert!(table.contains("c <- "), "{table}");
    assert!(table.contains("(canary): version 2"), "{table}");
}

/// A loopback proxy in front of the registry that breaks the first blob
/// download after `cut` bytes of its response, and remembers whether a
/// later request asked for a range (a resumed transfer).
struct BreakingProxy {
    addr: String,
    ranged: Arc<AtomicBool>,
}

impl BreakingProxy {
    fn start(upstream: String, cut: usize) -> BreakingProxy {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let armed = Arc::new(AtomicBool::new(true));
        let ranged = Arc::new(AtomicBool::new(false));
        let r = ranged.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                let Ok(server) = std::net::TcpStream::connect(&upstream) else {
                    continue;
                };
                let cut_this = Arc::new(AtomicBool::new(false));
                let (mut c_in, mut s_out) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (armed, ranged, flag) = (armed.clone(), r.clone(), cut_this.clone());
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16384];
                    while let Ok(n) = c_in.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        let text = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
                        if text.starts_with("get ") && text.contains("/blobs/sha256:") {
                            if text.contains("\r\nrange:") {
                                ranged.store(true, Ordering::SeqCst);
                            } else if armed.swap(false, Ordering::SeqCst) {
                                flag.store(true, Ordering::SeqCst);
                            }
                        }
                        if s_out.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = s_out.shutdown(std::net::Shutdown::Both);
                });
                let (mut s_in, mut c_out) = (server, client);
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    let mut sent = 0;
                    while let Ok(n) = s_in.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        if cut_this.load(Ordering::SeqCst) {
                            let room = cut.saturating_sub(sent).min(n);
                            let _ = c_out.write_all(&buf[..room]);
                            sent += room;
                            if sent >= cut {
                                break;
                            }
                            continue;
                        }
                        if c_out.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = c_out.shutdown(std::net::Shutdown::Both);
                    let _ = s_in.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        BreakingProxy { addr, ranged }
    }
}

/// A blob transfer that breaks halfway resumes from where it stopped (an
/// HTTP range request), and the version arrives whole and checked.
#[test]
fn a_broken_blob_transfer_resumes() {
    let reg = Registry::start().unwrap();
    let work = tempfile::tempdir().unwrap();
    let repo = Repo::new().unwrap();
    let dir = repo.add("m", "1", components::FAULTY, &echo(100)).unwrap();
    let size = std::fs::metadata(components::FAULTY).unwrap().len();
    assert!(
        size > 60_000,
        "the component is big enough to break halfway"
    );
    let digest = push(&dir, &format!("{}/m:1", reg.addr), &[]);
    let proxy = BreakingProxy::start(reg.addr.clone(), 30_000);
    let out = work.path().join("pulled");
    let (code, got, err) = cli(&[
        "pull",
        &format!("{}/m:1", proxy.addr),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!((code, got.trim()), (0, digest.as_str()), "{err}");
    assert!(err.contains("resuming"), "{err}");
    assert!(
        proxy.ranged.load(Ordering::SeqCst),
        "the retry asked for the rest only"
    );
    assert_eq!(
        std::fs::read(out.join("model.wasm")).unwrap(),
        std::fs::read(components::FAULTY).unwrap()
    );
}

/// Registry credentials come from the environment or the Docker config file
/// (never the command line); without them a registry that asks for a login
/// is refused with what to do. A node following such a registry logs in
/// with its environment's credentials.
#[test]
fn registry_credentials_come_from_the_environment_or_the_docker_config() {
    use base64::Engine as _;
    let reg = Registry::start_with_login("ops", "s3cret").unwrap();
    let work = tempfile::tempdir().unwrap();
    let repo = Repo::new().unwrap();
    let dir = repo.add("m", "1", components::FAULTY, &echo(100)).unwrap();
    let reference = format!("{}/m:1", reg.addr);
    let edgeserve = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(BIN);
        cmd.args(args)
            .env("EDGESERVE_LOG", "warn")
            .env("DOCKER_CONFIG", work.path().join("no-docker-config"))
            .env_remove("EDGESERVE_REGISTRY_USERNAME")
            .env_remove("EDGESERVE_REGISTRY_PASSWORD");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let dir_arg = dir.to_str().unwrap();
    // No credentials: refused, and the error says where they come from.
    let (code, _, err) = edgeserve(&["push", dir_arg, &reference], &[]);
    assert_ne!(code, 0);
    assert!(err.contains("EDGESERVE_REGISTRY_USERNAME"), "{err}");
    assert!(err.contains("docker login"), "{err}");
    // Wrong ones: the same.
    let wrong = [
        ("EDGESERVE_REGISTRY_USERNAME", "ops"),
        ("EDGESERVE_REGISTRY_PASSWORD", "guess"),
    ];
    let (code, _, err) = edgeserve(&["push", dir_arg, &reference], &wrong);
    assert_ne!(code, 0);
    assert!(err.contains("refused the credentials"), "{err}");
    // From the environment.
    let env = [
        ("EDGESERVE_REGISTRY_USERNAME", "ops"),
        ("EDGESERVE_REGISTRY_PASSWORD", "s3cret"),
    ];
    let (code, digest, err) = edgeserve(&["push", dir_arg, &reference], &env);
    assert_eq!(code, 0, "{err}");
    // From the Docker config file (what `docker login` writes).
    let docker = work.path().join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode("ops:s3cret");
    std::fs::write(
        docker.join("config.json"),
        format!(r#"{{"auths": {{"{}": {{"auth": "{auth}"}}}}}}"#, reg.addr),
    )
    .unwrap();
    let out = work.path().join("pulled");
    let (code, got, err) = edgeserve(
        &["pull", &reference, "--out", out.to_str().unwrap()],
        &[("DOCKER_CONFIG", docker.to_str().unwrap())],
    );
    assert_eq!((code, got.trim()), (0, digest.trim()), "{err}");
    // A node follows it with its environment's credentials.
    let config = work.path().join("node.toml");
    std::fs::write(
        &config,
        format!(
            "[fleet]\npoll_min = \"200ms\"\npoll_max = \"1s\"\n[[fleet.follow]]\nmodel = \"m\"\n\
             reference = \"{reference}\"\n"
        ),
    )
    .unwrap();
    let node = Server::start_with_env(BIN, &["--config", config.to_str().unwrap()], &env).unwrap();
    let c = client();
    let served = wait_until(Duration::from_secs(30), || {
        score(&c, &node) == Ok("1".into())
    });
    assert!(served, "{}", status(&c, &node)["fleet"]);
}

/// A `[fleet]` mistake stops `serve` before anything starts, naming the key.
#[test]
fn fleet_configuration_mistakes_are_named_at_start() {
    let work = tempfile::tempdir().unwrap();
    let serve = |config: &str| {
        let path = work.path().join("node.toml");
        std::fs::write(&path, config).unwrap();
        let state = work.path().join("state");
        cli(&[
            "serve",
            "--config",
            path.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--state-dir",
            state.to_str().unwrap(),
        ])
    };
    let (code, _, err) =
        serve("[[fleet.follow]]\nmodel = \"m\"\nreference = \"127.0.0.1:9/m:{ring}\"\n");
    assert_ne!(code, 0);
    assert!(
        err.contains("fleet.follow[0].reference") && err.contains("fleet.ring is not set"),
        "{err}"
    );
    let (code, _, err) = serve(
        "[fleet]\ntrust_keys = [\"/nonexistent/release.pub\"]\n[[fleet.follow]]\nmodel = \"m\"\n\
         reference = \"127.0.0.1:9/m:stable\"\n",
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("[fleet] trust_keys: /nonexistent/release.pub"),
        "{err}"
    );
}
