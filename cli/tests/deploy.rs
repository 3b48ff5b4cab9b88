//! Zero-downtime deployment: the admin API and CLI, refusals, swaps under
//! load, persisted state across kill -9, the AOT cache, the repository
//! watch and guarded rollouts.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use edgeserve_test_support::{Repo, Server, components, run, tempfile};
use reqwest::blocking::Client;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_edgeserve");

/// A manifest for the echo fixture whose answers carry `offset`.
fn versioned(offset: u32) -> String {
    format!("[config]\nmode = \"echo\"\noffset = \"{offset}\"\n[limits]\ndeadline = \"5s\"\n")
}

fn three_versions() -> Repo {
    let repo = Repo::new().unwrap();
    for v in 1..=3 {
        repo.add("m", &v.to_string(), components::FAULTY, &versioned(v * 100))
            .unwrap();
    }
    repo
}

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// One inference on `m`; returns (status, model_version, y).
fn score(c: &Client, s: &Server, path: &str) -> (u16, String, f64) {
    let body = json!({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]});
    match c.post(s.url(path)).json(&body).send() {
        Ok(r) => {
            let status = r.status().as_u16();
            let v: Value = r.json().unwrap_or(Value::Null);
            (
                status,
                v["model_version"].as_str().unwrap_or_default().to_string(),
                v["outputs"][0]["data"][0].as_f64().unwrap_or(f64::NAN),
            )
        }
        Err(e) => (0, e.to_string(), f64::NAN),
    }
}

fn admin(c: &Client, s: &Server, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let url = s.admin_url(path);
    let req = match method {
        "GET" => c.get(url),
        "PUT" => c.put(url),
        "POST" => c.post(url),
        _ => c.delete(url),
    };
    // Every change carries a JSON content type (the admin API refuses one
    // without: a web page could send it cross-origin).
    let req = match body {
        Some(b) => req.json(&b),
        None if method == "GET" => req,
        None => req.header("content-type", "application/json"),
    };
    let r = req.send().unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

fn model_status(c: &Client, s: &Server) -> Value {
    admin(c, s, "GET", "/admin/v1/models/m", None).1
}

fn cli(s: &Server, args: &[&str]) -> (i32, String, String) {
    let url = format!("http://{}", s.admin_addr.as_deref().unwrap());
    let mut all = vec![args[0], "--admin", url.as_str()];
    all.extend_from_slice(&args[1..]);
    run(BIN, &all).unwrap()
}

#[test]
fn admin_operations_cli_and_refusals() {
    let repo = Repo::new().unwrap();
    repo.add("m", "1", components::FAULTY, &versioned(100))
        .unwrap();
    let s = Server::start(BIN, &["--repository", repo.path().to_str().unwrap()]).unwrap();
    let c = client();
    assert_eq!(score(&c, &s, "/v2/models/m/infer").1, "1");

    // Deploy 2 by upload through the CLI: it loads but does not take traffic.
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("manifest.toml");
    std::fs::write(&manifest, versioned(200)).unwrap();
    let (code, out, err) = cli(
        &s,
        &[
            "deploy",
            "m",
            "2",
            "--component",
            components::FAULTY,
            "--manifest",
            manifest.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("deployed m@2"), "{out}");
    assert_eq!(score(&c, &s, "/v2/models/m/infer").1, "1");
    assert_eq!(score(&c, &s, "/v2/models/m/versions/2/infer").2, 201.0);

    // Deploy 3 from a folder on the node, given relative to the shell's
    // working folder (the CLI resolves it; the node never guesses).
    repo.add("staging", "3", components::FAULTY, &versioned(300))
        .unwrap();
    let url = format!("http://{}", s.admin_addr.as_deref().unwrap());
    let out = std::process::Command::new(BIN)
        .args(["deploy", "--admin", &url, "m", "3", "--path", "staging/3"])
        .current_dir(repo.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");

    // Canary at 50%: both versions answer unversioned requests.
    let (code, out, _) = cli(&s, &["canary", "m", "2", "--weight", "50"]);
    assert_eq!(code, 0);
    assert!(out.contains("m@2 is the canary with 50%"), "{out}");
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..200 {
        let (st, v, y) = score(&c, &s, "/v2/models/m/infer");
        assert_eq!(st, 200);
        assert_eq!(y, 1.0 + 100.0 * v.parse::<f64>().unwrap());
        seen.insert(v);
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), vec!["1", "2"]);

    // Shadow 3: its answers are compared and discarded.
    assert_eq!(cli(&s, &["shadow", "m", "3"]).0, 0);
    for _ in 0..20 {
        let (st, v, _) = score(&c, &s, "/v2/models/m/infer");
        assert!(st == 200 && v != "3");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let st = model_status(&c, &s);
        let v3 = st["versions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["version"] == "3")
            .unwrap()
            .clone();
        if v3["shadow_compared"].as_u64().unwrap() >= 20 {
            assert_eq!(v3["shadow_agreed"], 0, "{v3}");
            assert_eq!(v3["role"], "shadow");
            break;
        }
        assert!(Instant::now() < deadline, "shadow calls not compared: {st}");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Promote 2 (its canary ends), roll back to 1.
    let (code, out, _) = cli(&s, &["promote", "m", "2"]);
    assert_eq!(code, 0);
    assert!(out.contains("m@2 is now the primary"));
    let st = model_status(&c, &s);
    assert_eq!(st["primary"], "2");
    assert!(st["canary"].is_null());
    assert_eq!(score(&c, &s, "/v2/models/m/infer").1, "2");
    let (code, out, _) = cli(&s, &["rollback", "m"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("rolled m back from 2 to 1"), "{out}");
    assert_eq!(score(&c, &s, "/v2/models/m/infer").1, "1");

    // Removing a version with traffic is refused with the reason.
    let (code, _, err) = cli(&s, &["remove", "m", "1"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("refused (409)") && err.contains("it is the primary"),
        "{err}"
    );
    let (code, _, err) = cli(&s, &["remove", "m", "3"]);
    assert_eq!(code, 1);
    assert!(err.contains("it is the shadow"), "{err}");
    assert_eq!(cli(&s, &["shadow", "m", "--clear"]).0, 0);
    let (code, out, _) = cli(&s, &["remove", "m", "3"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(score(&c, &s, "/v2/models/m/versions/3/infer").0, 404);

    // Refusals leave the table exactly as it was.
    let before = model_status(&c, &s);
    let (code, _, err) = cli(
        &s,
        &["deploy", "m", "4", "--component", components::NOT_A_MODEL],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("refused (422)") && err.contains("world check"),
        "{err}"
    );
    let smoke = dir.path().join("smoke.toml");
    std::fs::write(
        &smoke,
        "[config]\nmode = \"panic\"\n[smoke_test]\ninline = '{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}]}'\n",
    )
    .unwrap();
    let (code, _, err) = cli(
        &s,
        &[
            "deploy",
            "m",
            "4",
            "--component",
            components::FAULTY,
            "--manifest",
            smoke.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 1);
    assert!(err.contains("smoke test"), "{err}");
    let (code, _, err) = cli(&s, &["deploy", "m", "2", "--component", components::FAULTY]);
    assert_eq!(code, 1);
    assert!(
        err.contains("refused (409)") && err.contains("already deployed"),
        "{err}"
    );
    // A file given twice (here the manifest, as --file too) is refused, so
    // what is validated is what is stored.
    let twice = [
        "deploy",
        "m",
        "5",
        "--component",
        components::FAULTY,
        "--manifest",
        manifest.to_str().unwrap(),
        "--file",
        manifest.to_str().unwrap(),
    ];
    let (code, _, err) = cli(&s, &twice);
    assert_eq!(code, 1);
    assert!(
        err.contains("refused (400)") && err.contains("twice"),
        "{err}"
    );
    let (code, _, err) = cli(&s, &["canary", "m", "9", "--weight", "10"]);
    assert_eq!(code, 1);
    assert!(err.contains("refused (404)"), "{err}");
    let (code, _, err) = cli(&s, &["canary", "m", "2", "--weight", "101"]);
    assert_ne!(code, 0, "{err}");
    let mut after = model_status(&c, &s);
    let mut before = before;
    for v in [&mut before, &mut after] {
        for ver in v["versions"].as_array_mut().unwrap() {
            ver["requests"] = json!(0);
            ver["idle_instances"] = json!(0);
        }
    }
    assert_eq!(before, after, "a refused deploy changed the table");

    // Status, human and JSON.
    let (code, out, _) = cli(&s, &["status"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("m  primary 1") && out.contains("recent events:"),
        "{out}"
    );
    let (code, out, _) = cli(&s, &["status", "--json", "m"]);
    assert_eq!(code, 0);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["primary"], "1");

    // An unreachable admin API is exit code 3.
    let (code, _, err) = run(BIN, &["status", "--admin", "http://127.0.0.1:9"]).unwrap();
    assert_eq!(code, 3, "{err}");
}

#[test]
fn admin_token_is_enforced() {
    let repo = three_versions();
    let s = Server::start_with_env(
        BIN,
        &["--repository", repo.path().to_str().unwrap()],
        &[("EDGESERVE_ADMIN_TOKEN", "tok-0123456789abcdef")],
    )
    .unwrap();
    let c = client();
    let (st, v) = admin(&c, &s, "GET", "/admin/v1/models", None);
    assert_eq!(st, 401, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("missing bearer token")
    );
    let r = c
        .get(s.admin_url("/admin/v1/models"))
        .bearer_auth("wrong")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = c
        .get(s.admin_url("/admin/v1/models"))
        .bearer_auth("tok-0123456789abcdef")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // The line reaches the log through the server's stderr pipe: wait for
    // it rather than race the reader thread (this failed once under load).
    assert!(s.wait_for_log("admin authentication failed", Duration::from_secs(10)));
    assert!(
        !s.log().contains("tok-0123456789abcdef"),
        "the token must never be logged"
    );
    // The CLI takes the token from the environment.
    let url = format!("http://{}", s.admin_addr.as_deref().unwrap());
    let out = std::process::Command::new(BIN)
        .args(["promote", "m", "2", "--admin", &url])
        .env("EDGESERVE_ADMIN_TOKEN", "tok-0123456789abcdef")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, _, err) = run(
        BIN,
        &["promote", "m", "1", "--admin", &url, "--token", "bad"],
    )
    .unwrap();
    assert_eq!(code, 1);
    assert!(err.contains("refused (401)"), "{err}");
    assert!(
        err.contains("send the node's admin token: --token TOKEN or EDGESERVE_ADMIN_TOKEN"),
        "{err}"
    );
    // Pointed at the data plane, the CLI says so and where to look.
    let data = s.url("");
    let (code, _, err) = run(BIN, &["status", "--admin", data.trim_end_matches('/')]).unwrap();
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("this is edgeserve's data plane"), "{err}");
    assert!(
        err.contains("--admin points at the data plane: give the admin address"),
        "{err}"
    );
    // The data plane never needs the admin token.
    assert_eq!(score(&c, &s, "/v2/models/m/infer").1, "2");
}

#[test]
fn swaps_under_load_drop_nothing() {
    let repo = three_versions();
    let s = Server::start(BIN, &["--repository", repo.path().to_str().unwrap()]).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    // (send, receive, version) of every answer from version 4.
    let v4_answers = Arc::new(Mutex::new(Vec::<(Instant, Instant)>::new()));
    let start = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..32 {
            let (s, stop, ok, failures, v4) = (
                &s,
                stop.clone(),
                ok.clone(),
                failures.clone(),
                v4_answers.clone(),
            );
            scope.spawn(move || {
                let c = client();
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let pinned = (t + i).is_multiple_of(10);
                    let path = if pinned {
                        "/v2/models/m/versions/1/infer"
                    } else {
                        "/v2/models/m/infer"
                    };
                    let sent = Instant::now();
                    let (st, v, y) = score(&c, s, path);
                    let got = Instant::now();
                    let ver: f64 = v.parse().unwrap_or(-1.0);
                    if st != 200 || y != 1.0 + 100.0 * ver || (pinned && v != "1") {
                        failures
                            .lock()
                            .unwrap()
                            .push(format!("{path}: {st} {v} {y}"));
                    } else {
                        ok.fetch_add(1, Ordering::Relaxed);
                        if v == "4" {
                            v4.lock().unwrap().push((sent, got));
                        }
                    }
                }
            });
        }
        // The controller: at least 50 changes over at least 10 seconds.
        let c = client();
        let mut changes = 0;
        let mut v4_window = None;
        let ops: Vec<(&str, &str, Option<Value>)> = vec![
            (
                "PUT",
                "/admin/v1/models/m/primary",
                Some(json!({"version": "2"})),
            ),
            (
                "PUT",
                "/admin/v1/models/m/canary",
                Some(json!({"version": "3", "weight": 30})),
            ),
            (
                "PUT",
                "/admin/v1/models/m/shadow",
                Some(json!({"version": "1"})),
            ),
            (
                "PUT",
                "/admin/v1/models/m/primary",
                Some(json!({"version": "3"})),
            ),
            ("DELETE", "/admin/v1/models/m/shadow", None),
            (
                "PUT",
                "/admin/v1/models/m/canary",
                Some(json!({"version": "1", "weight": 70})),
            ),
            ("POST", "/admin/v1/models/m/rollback", None),
            ("DELETE", "/admin/v1/models/m/canary", None),
            (
                "PUT",
                "/admin/v1/models/m/primary",
                Some(json!({"version": "1"})),
            ),
        ];
        while changes < 60 || start.elapsed() < Duration::from_secs(11) {
            let (method, path, body) = &ops[changes % ops.len()];
            let (st, v) = admin(&c, &s, method, path, body.clone());
            assert!(st == 200 || st == 409, "{method} {path}: {st} {v}");
            changes += 1;
            if changes == 20 {
                // A fourth version comes and goes while traffic flows.
                let deploy_started = Instant::now();
                let dir = tempfile::tempdir().unwrap();
                std::fs::write(dir.path().join("manifest.toml"), versioned(400)).unwrap();
                std::fs::copy(components::FAULTY, dir.path().join("model.wasm")).unwrap();
                let (st, v) = admin(
                    &c,
                    &s,
                    "PUT",
                    "/admin/v1/models/m/versions/4",
                    Some(json!({"path": dir.path()})),
                );
                assert_eq!(st, 201, "{v}");
                let (st, _) = admin(
                    &c,
                    &s,
                    "PUT",
                    "/admin/v1/models/m/canary",
                    Some(json!({"version": "4", "weight": 50})),
                );
                assert_eq!(st, 200);
                std::thread::sleep(Duration::from_millis(500));
                let (st, _) = admin(&c, &s, "DELETE", "/admin/v1/models/m/canary", None);
                assert_eq!(st, 200);
                let (st, v) = admin(&c, &s, "DELETE", "/admin/v1/models/m/versions/4", None);
                assert_eq!(st, 200, "{v}");
                v4_window = Some((deploy_started, Instant::now()));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        stop.store(true, Ordering::Relaxed);
        let (from, to) = v4_window.unwrap();
        let answers = v4_answers.lock().unwrap();
        assert!(
            !answers.is_empty(),
            "version 4 never answered while it was the canary"
        );
        for (sent, got) in answers.iter() {
            assert!(
                *got >= from && *sent <= to,
                "version 4 answered outside its deployment"
            );
        }
        assert!(changes >= 50);
    });
    let failures = failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{} failed requests, e.g. {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(start.elapsed() >= Duration::from_secs(10));
    assert!(
        ok.load(Ordering::Relaxed) > 1000,
        "too little traffic: {}",
        ok.load(Ordering::Relaxed)
    );
    // Version 4 is gone and freed once its last request ended: three live versions.
    let c = client();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, st) = admin(&c, &s, "GET", "/admin/v1/models", None);
        if st["live_versions"] == 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "live versions stay at {}",
            st["live_versions"]
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The traffic part of a model's status.
fn traffic(v: &Value) -> Value {
    json!({"primary": v["primary"], "canary": v["canary"], "shadow": v["shadow"],
           "versions": v["versions"].as_array().map(|a| a.iter().map(|x| x["version"].clone()).collect::<Vec<_>>())})
}

/// One admin change of the kill -9 loop, and the field it sets.
#[derive(Clone, Debug)]
enum Op {
    Primary(u64),
    Canary(u64, u64),
    ClearCanary,
    Shadow(u64),
    ClearShadow,
    Deploy(u64),
}

impl Op {
    /// Whether `now` is `before` with this change applied (as far as the
    /// field it sets; the rest must be unchanged).
    fn explains(&self, before: &Value, now: &Value) -> bool {
        let same = |k: &str| before[k] == now[k];
        match self {
            Op::Primary(v) => {
                now["primary"].as_str() == Some(v.to_string().as_str()) && same("versions")
            }
            Op::Canary(v, w) => {
                now["canary"] == json!({"version": v.to_string(), "weight": w})
                    && same("primary")
                    && same("versions")
            }
            Op::ClearCanary => {
                now["canary"].is_null() && same("primary") && same("shadow") && same("versions")
            }
            Op::Shadow(v) => {
                now["shadow"].as_str() == Some(v.to_string().as_str())
                    && same("primary")
                    && same("canary")
                    && same("versions")
            }
            Op::ClearShadow => {
                now["shadow"].is_null() && same("primary") && same("canary") && same("versions")
            }
            Op::Deploy(v) => {
                let mut want = before["versions"].as_array().cloned().unwrap_or_default();
                want.push(json!(v.to_string()));
                let mut want: Vec<String> = want
                    .iter()
                    .map(|x| x.as_str().unwrap_or_default().to_string())
                    .collect();
                want.sort_by_key(|x| x.parse::<u64>().unwrap_or(0));
                now["versions"] == json!(want)
                    && same("primary")
                    && same("canary")
                    && same("shadow")
            }
        }
    }
}

#[test]
fn kill_9_at_random_points_keeps_the_acknowledged_state() {
    let repo = three_versions();
    let state_dir = tempfile::tempdir().unwrap();
    let staging = tempfile::tempdir().unwrap();
    std::fs::write(staging.path().join("manifest.toml"), versioned(900)).unwrap();
    std::fs::copy(components::FAULTY, staging.path().join("model.wasm")).unwrap();
    let args = [
        "--repository",
        repo.path().to_str().unwrap(),
        "--state-dir",
        state_dir.path().to_str().unwrap(),
    ];
    let c = client();
    let mut acked: Option<Value> = None;
    let mut pending: Option<Op> = None;
    let mut rng: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rand = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let mut next_version = 10;
    let mut kills_mid_change = 0;
    for round in 0..10 {
        let mut s = Server::start(BIN, &args).unwrap();
        let now = traffic(&model_status(&c, &s));
        if let Some(want) = &acked {
            let ok = &now == want || pending.as_ref().is_some_and(|op| op.explains(want, &now));
            assert!(
                ok,
                "round {round}: after restart {now}, acknowledged {want}, in flight {pending:?}"
            );
        }
        assert!(
            !now["versions"].as_array().unwrap().is_empty(),
            "never empty"
        );
        // Changes keep coming until the kill; at most three deploys a round
        // so restarts stay quick.
        let mut deploys = 0;
        let ops: Vec<Op> = (0..5000)
            .map(|_| {
                let v = rand(3) + 1;
                match rand(20) {
                    0..=3 => Op::Primary(v),
                    4..=7 => Op::Canary(v, rand(101)),
                    8..=10 => Op::ClearCanary,
                    11..=14 => Op::Shadow(v),
                    15..=17 => Op::ClearShadow,
                    _ if deploys < 3 => {
                        deploys += 1;
                        next_version += 1;
                        Op::Deploy(next_version)
                    }
                    _ => Op::ClearCanary,
                }
            })
            .collect();
        let last: Arc<Mutex<(Value, Option<Op>)>> = Arc::new(Mutex::new((now, None)));
        let kill_after = Duration::from_millis(50 + rand(400));
        std::thread::scope(|scope| {
            let (last, addr, staging) =
                (last.clone(), s.admin_addr.clone().unwrap(), staging.path());
            scope.spawn(move || {
                let c = Client::builder()
                    .timeout(Duration::from_secs(5))
                    .build()
                    .unwrap();
                let url = |p: &str| format!("http://{addr}/admin/v1/models/m{p}");
                for op in ops {
                    last.lock().unwrap().1 = Some(op.clone());
                    let req = match &op {
                        Op::Primary(v) => c
                            .put(url("/primary"))
                            .json(&json!({"version": v.to_string()})),
                        Op::Canary(v, w) => c
                            .put(url("/canary"))
                            .json(&json!({"version": v.to_string(), "weight": w})),
                        Op::ClearCanary => c
                            .delete(url("/canary"))
                            .header("content-type", "application/json"),
                        Op::Shadow(v) => c
                            .put(url("/shadow"))
                            .json(&json!({"version": v.to_string()})),
                        Op::ClearShadow => c
                            .delete(url("/shadow"))
                            .header("content-type", "application/json"),
                        Op::Deploy(v) => c
                            .put(url(&format!("/versions/{v}")))
                            .json(&json!({"path": staging})),
                    };
                    let Ok(r) = req.send() else { return };
                    let status = r.status().as_u16();
                    let Ok(body) = r.json::<Value>() else { return };
                    let mut l = last.lock().unwrap();
                    if status < 300 {
                        l.0 = traffic(&body["model"]);
                    }
                    // Refused (409) changes leave the state as it was.
                    l.1 = None;
                }
            });
            std::thread::sleep(kill_after);
            s.signal("KILL").unwrap();
        });
        let _ = s.wait_exit(Duration::from_secs(10));
        let (state, in_flight) = last.lock().unwrap().clone();
        kills_mid_change += usize::from(in_flight.is_some());
        acked = Some(state);
        pending = in_flight;
    }
    let s = Server::start(BIN, &args).unwrap();
    let now = traffic(&model_status(&c, &s));
    let want = acked.unwrap();
    let ok = now == want || pending.as_ref().is_some_and(|op| op.explains(&want, &now));
    assert!(
        ok,
        "final: {now}, acknowledged {want}, in flight {pending:?}"
    );
    assert!(
        kills_mid_change > 0,
        "no kill landed during a change; the test proved little"
    );
}

#[test]
fn aot_cache_is_reused_and_corruption_is_detected() {
    let repo = Repo::new().unwrap();
    repo.add_example("iris", "1", components::IRIS).unwrap();
    let state_dir = tempfile::tempdir().unwrap();
    let args = [
        "--repository",
        repo.path().to_str().unwrap(),
        "--state-dir",
        state_dir.path().to_str().unwrap(),
        "--no-admin",
    ];
    let c = client();
    let body = json!({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]});
    let check = |s: &Server| {
        let r = c
            .post(s.url("/v2/models/iris/infer"))
            .json(&body)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    };
    let s = Server::start(BIN, &args).unwrap();
    assert!(s.log().contains("compile=Compiled"), "{}", s.log());
    check(&s);
    drop(s);
    let aot: Vec<_> = std::fs::read_dir(state_dir.path().join("aot"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(aot.len(), 1, "{aot:?}");
    let s = Server::start(BIN, &args).unwrap();
    assert!(s.log().contains("compile=Hit"), "{}", s.log());
    check(&s);
    drop(s);
    // Flip bytes in the middle of the artifact: detected, recompiled, served.
    let mut bytes = std::fs::read(&aot[0]).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 64] {
        *b ^= 0x5a;
    }
    std::fs::write(&aot[0], &bytes).unwrap();
    let s = Server::start(BIN, &args).unwrap();
    assert!(
        s.log().contains("compile=Recompiled(\"not authenticated"),
        "{}",
        s.log()
    );
    check(&s);
    drop(s);
    // A truncated artifact, and a stranger's file, are not trusted either.
    std::fs::write(&aot[0], b"edgeserve-aot-2\nshort").unwrap();
    let s = Server::start(BIN, &args).unwrap();
    assert!(s.log().contains("compile=Recompiled"), "{}", s.log());
    check(&s);
    drop(s);
    let s = Server::start(BIN, &args).unwrap();
    assert!(
        s.log().contains("compile=Hit"),
        "repaired artifact is used: {}",
        s.log()
    );
}

/// `edgeserve serve` on `repo` with its state in `state`, plus `extra` flags.
fn serve_in(repo: &Repo, state: &std::path::Path, extra: &[&str]) -> Server {
    let mut args = vec![
        "--repository",
        repo.path().to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    Server::start(BIN, &args).unwrap()
}

/// The server's child processes (its compile workers), as listed per
/// thread that spawned them.
fn compile_workers(s: &Server) -> String {
    let tasks = std::fs::read_dir(format!("/proc/{}/task", s.pid())).unwrap();
    let children: String = tasks
        .flatten()
        .map(|t| std::fs::read_to_string(t.path().join("children")).unwrap_or_default())
        .collect();
    children.trim().to_string()
}

/// Compiles run in a child process under `compile_memory` and
/// `compile_timeout`: a component that needs more than that is refused with
/// a message naming the limit, and the server and its other models serve on.
#[test]
fn compile_limits_refuse_only_the_component_that_exceeds_them() {
    // The ONNX runner needs hundreds of MiB to compile; Iris needs a few.
    let repo = Repo::new().unwrap();
    repo.add_example("iris", "1", components::IRIS).unwrap();
    repo.add("big", "1", components::ONNX_RUNNER, "").unwrap();
    let cfg_dir = tempfile::tempdir().unwrap();
    // Each server gets its own state folder: an AOT cache would spare the
    // compile.
    let start = |config: &str| {
        let cfg = write_config(cfg_dir.path(), config);
        let state = tempfile::tempdir().unwrap();
        (serve_in(&repo, state.path(), &["--config", &cfg]), state)
    };
    let (s, _state) =
        start("[runtime]\ncompile_memory = \"96MiB\"\n[repository]\npoll_interval = \"0s\"\n");
    let log = s.log();
    assert!(log.contains("refused what=big@1"), "{log}");
    assert!(
        log.contains("ran out of its memory limit of 96MiB ([runtime] compile_memory)"),
        "{log}"
    );
    assert!(log.contains("model=iris version=1"), "{log}");
    let c = client();
    let iris = json!({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]});
    let r = c
        .post(s.url("/v2/models/iris/infer"))
        .json(&iris)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // The same component deployed over the admin API: 422 with the reason,
    // nothing half-deployed, and no compile worker left running.
    let staging = Repo::new().unwrap();
    let big = staging
        .add("big", "2", components::ONNX_RUNNER, "")
        .unwrap();
    let (status, body) = admin(
        &c,
        &s,
        "PUT",
        "/admin/v1/models/big/versions/2",
        Some(json!({"path": big})),
    );
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("compile_memory"),
        "{body}"
    );
    let (status, _) = admin(&c, &s, "GET", "/admin/v1/models/big", None);
    assert_eq!(status, 404);
    assert_eq!(
        compile_workers(&s),
        "",
        "a compile worker outlived its compile"
    );
    drop(s);

    // A compile that outlasts `compile_timeout` is killed and refused.
    let (s, _state) = start("[runtime]\ncompile_timeout = \"1ms\"\n");
    let log = s.log();
    assert!(
        log.contains(
            "refused what=iris@1 reason=compile: compiling took longer than the 1ms limit \
             ([runtime] compile_timeout)"
        ),
        "{log}"
    );
    assert_eq!(
        c.get(s.url("/v2/health/live"))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        200
    );
}

/// A deploy compiles outside the control plane's lock: while a slow compile
/// runs, a traffic change on another model goes through, and a second
/// deploy of the same version is refused as already in progress.
#[test]
fn traffic_changes_do_not_wait_for_a_compiling_deploy() {
    let repo = three_versions();
    // The ONNX runner takes seconds to compile; with no graph artifact it
    // is refused after compiling, at its metadata call. It is staged
    // outside the repository, which the server would load at start.
    let staging = Repo::new().unwrap();
    let big = staging
        .add("big", "1", components::ONNX_RUNNER, "")
        .unwrap();
    let state = tempfile::tempdir().unwrap();
    let s = serve_in(&repo, state.path(), &[]);
    let c = client();
    let deploy = json!({"path": big});
    // Compiling the runner can take minutes on a loaded machine.
    let patient = Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .unwrap();
    std::thread::scope(|scope| {
        let (patient, server, body) = (&patient, &s, deploy.clone());
        let slow = scope.spawn(move || {
            admin(
                patient,
                server,
                "PUT",
                "/admin/v1/models/big/versions/1",
                Some(body),
            )
        });
        // Wait until the deploy is compiling: its compile worker runs.
        let deadline = Instant::now() + Duration::from_secs(60);
        while compile_workers(&s).is_empty() {
            assert!(Instant::now() < deadline, "no compile worker started");
            assert!(
                !slow.is_finished(),
                "the deploy ended without compiling: {}",
                s.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let (status, body) = admin(
            &c,
            &s,
            "PUT",
            "/admin/v1/models/m/primary",
            Some(json!({"version": "2"})),
        );
        assert_eq!(status, 200, "{body}");
        let (status, body) = admin(
            &c,
            &s,
            "PUT",
            "/admin/v1/models/big/versions/1",
            Some(deploy.clone()),
        );
        assert_eq!(status, 409, "{body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap_or_default()
                .contains("already in progress"),
            "{body}"
        );
        // Nor can the version be removed under the deploy.
        let (status, body) = admin(&c, &s, "DELETE", "/admin/v1/models/big/versions/1", None);
        assert_eq!(status, 409, "{body}");
        assert!(
            !slow.is_finished(),
            "the compile ended before the traffic change could show it does not wait"
        );
        let (status, body) = slow.join().unwrap();
        assert_eq!(status, 422, "{body}");
    });
    assert_eq!(score(&c, &s, "/v2/models/m/infer").1, "2");
    // The refused version left nothing behind.
    let (status, _) = admin(&c, &s, "GET", "/admin/v1/models/big", None);
    assert_eq!(status, 404);
    assert!(!state.path().join("versions/big/1").exists());
}

fn write_config(dir: &std::path::Path, text: &str) -> String {
    let path = dir.join("edgeserve.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn repository_watch_deploys_new_versions_under_the_version_policy() {
    let repo = Repo::new().unwrap();
    repo.add("m", "1", components::FAULTY, &versioned(100))
        .unwrap();
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = write_config(cfg_dir.path(), "[repository]\npoll_interval = \"200ms\"\n");
    let s = Server::start(
        BIN,
        &[
            "--config",
            &cfg,
            "--repository",
            repo.path().to_str().unwrap(),
        ],
    )
    .unwrap();
    let c = client();
    // A half-copied version: manifest and part of the component.
    let dir = repo.path().join("m").join("2");
    std::fs::create_dir_all(&dir).unwrap();
    let wasm = std::fs::read(components::FAULTY).unwrap();
    std::fs::write(dir.join("model.wasm"), &wasm[..wasm.len() / 2]).unwrap();
    std::fs::write(dir.join("manifest.toml"), versioned(200)).unwrap();
    // Keep "copying" for a while: it must not be loaded (or refused) meanwhile.
    for chunk in 1..=5 {
        std::thread::sleep(Duration::from_millis(150));
        let end = wasm.len() / 2 + chunk * (wasm.len() / 10);
        std::fs::write(dir.join("model.wasm"), &wasm[..end.min(wasm.len())]).unwrap();
        assert_eq!(score(&c, &s, "/v2/models/m/versions/2/infer").0, 404);
    }
    std::fs::write(dir.join("model.wasm"), &wasm).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while score(&c, &s, "/v2/models/m/infer").1 != "2" {
        assert!(
            Instant::now() < deadline,
            "version 2 was not picked up:\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !s.log().contains("refused what=m@2"),
        "a half-copied file was loaded: {}",
        s.log()
    );
    // A broken version is refused once, with a reason, and retried only when its files change.
    repo.add("m", "3", components::NOT_A_MODEL, "").unwrap();
    assert!(
        s.wait_for_log("refused what=m@3", Duration::from_secs(10)),
        "{}",
        s.log()
    );
    assert_eq!(score(&c, &s, "/v2/models/m/infer").1, "2");
    // Version policy: only the latest one; version 1 is unloaded.
    std::fs::remove_dir_all(repo.path().join("m").join("3")).unwrap();
    std::fs::write(
        repo.path().join("m").join("model.toml"),
        "[version_policy]\nlatest = 1\n",
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while score(&c, &s, "/v2/models/m/versions/1/infer").0 != 404 {
        assert!(
            Instant::now() < deadline,
            "version 1 still served:\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(score(&c, &s, "/v2/models/m/infer").1, "2");
}

#[test]
fn guarded_rollout_rolls_back_by_itself() {
    let repo = Repo::new().unwrap();
    repo.add("m", "1", components::FAULTY, &versioned(100))
        .unwrap();
    let guard = "[rollout]\nmax_error_rate = 0.2\nwindow = \"10s\"\nmin_requests = 10\n";
    repo.add(
        "m",
        "2",
        components::FAULTY,
        &format!("[config]\nmode = \"error\"\n{guard}"),
    )
    .unwrap();
    repo.add(
        "m",
        "3",
        components::FAULTY,
        &format!("[config]\nmode = \"error\"\n{guard}"),
    )
    .unwrap();
    let s = Server::start(BIN, &["--repository", repo.path().to_str().unwrap()]).unwrap();
    let c = client();
    // Start from version 1 as the primary.
    assert_eq!(
        admin(
            &c,
            &s,
            "PUT",
            "/admin/v1/models/m/primary",
            Some(json!({"version": "1"}))
        )
        .0,
        200
    );
    // A failing canary is stopped.
    assert_eq!(
        admin(
            &c,
            &s,
            "PUT",
            "/admin/v1/models/m/canary",
            Some(json!({"version": "3", "weight": 100}))
        )
        .0,
        200
    );
    for _ in 0..15 {
        score(&c, &s, "/v2/models/m/infer");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !model_status(&c, &s)["canary"].is_null() {
        assert!(
            Instant::now() < deadline,
            "canary not stopped: {}",
            model_status(&c, &s)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // A failing new primary is rolled back to the previous one.
    assert_eq!(
        admin(
            &c,
            &s,
            "PUT",
            "/admin/v1/models/m/primary",
            Some(json!({"version": "2"}))
        )
        .0,
        200
    );
    for _ in 0..15 {
        assert_eq!(score(&c, &s, "/v2/models/m/infer").0, 500);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while model_status(&c, &s)["primary"] != "1" {
        assert!(
            Instant::now() < deadline,
            "not rolled back: {}",
            model_status(&c, &s)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        score(&c, &s, "/v2/models/m/infer"),
        (200, "1".to_string(), 101.0)
    );
    let (_, all) = admin(&c, &s, "GET", "/admin/v1/models", None);
    let events = all["events"].to_string();
    assert!(
        events.contains("rollout guard stopped canary m@3"),
        "{events}"
    );
    assert!(
        events.contains("rolled m back from 2 to 1 (rollout guard"),
        "{events}"
    );
}

/// What an operator reads when a deploy goes wrong: a smoke-test file left
/// out of the upload is named with the flag that sends it (never a
/// server-side path), a file that is not a component says so, and a
/// version that binds a policy nobody deployed is refused (its binding
/// would refuse every request to the model, whichever version answers).
/// A binding already dangling on the node (from the repository) is a
/// warning after every change. The serving version is untouched
/// throughout.
#[test]
fn deploy_refusals_and_warnings_say_what_to_do() {
    let repo = Repo::new().unwrap();
    repo.add("m", "1", components::FAULTY, &versioned(100))
        .unwrap();
    repo.add(
        "n",
        "1",
        components::FAULTY,
        &format!("{}[[policies]]\npolicy = \"pii\"\n", versioned(1)),
    )
    .unwrap();
    let s = Server::start(BIN, &["--repository", repo.path().to_str().unwrap()]).unwrap();
    let c = client();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let deploy = |version: &str, component: &str, manifest: &str| {
        cli(
            &s,
            &[
                "deploy",
                "m",
                version,
                "--component",
                component,
                "--manifest",
                manifest,
            ],
        )
    };

    let smoke = write(
        "smoke.toml",
        &format!("{}[smoke_test]\nrequest = \"smoke.json\"\n", versioned(200)),
    );
    let (code, out, err) = deploy("2", components::FAULTY, &smoke);
    assert_ne!(code, 0, "{out}");
    assert!(
        err.contains(
            "the manifest's [smoke_test] request = \"smoke.json\" is not in the version folder: \
             put it there (deploying with --component: upload it with --file smoke.json)"
        ),
        "{err}"
    );
    assert!(
        !err.contains("/versions/") && !err.contains("No such file"),
        "{err}"
    );

    let text = write("model.wasm", "just some text, not a component");
    let plain = write("plain.toml", &versioned(300));
    let (code, _, err) = deploy("3", &text, &plain);
    assert_ne!(code, 0);
    assert!(
        err.contains("not a WebAssembly component: the file starts with \"just som\""),
        "{err}"
    );

    let bound = write(
        "bound.toml",
        &format!("{}[[policies]]\npolicy = \"gaurd\"\n", versioned(400)),
    );
    let (code, out, err) = deploy("4", components::FAULTY, &bound);
    assert_ne!(code, 0, "{out}");
    assert!(
        err.contains(
            "m@4 binds policy 'gaurd', which is not deployed (no policy is deployed); a model's \
             bindings apply whichever version answers, so deploying it would refuse every \
             request to m (503): deploy policy 'gaurd' first, or fix the binding's name"
        ),
        "{err}"
    );
    assert_eq!(
        score(&c, &s, "/v2/models/m/infer"),
        (200, "1".into(), 101.0)
    );

    // A change goes through, and says what is broken elsewhere.
    let (code, out, err) = deploy("5", components::FAULTY, &plain);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("deployed m@5"), "{out}");
    assert!(
        err.contains(
            "warning: model n@1 binds policy 'pii', which is not deployed (no policy is \
             deployed); every request to n will be refused (503) until it is"
        ),
        "{err}"
    );
    assert_eq!(
        score(&c, &s, "/v2/models/m/infer"),
        (200, "1".into(), 101.0)
    );
}

/// `edgeserve status` is the table an operator reads at 3 a.m.: traffic in
/// words, every answer counted (4xx refusals too), shadow agreement in its
/// own column, a policy's decisions instead of model columns, and each
/// model's recent events with their time, without no-op entries.
#[test]
fn status_is_a_table_an_operator_can_read() {
    let repo = three_versions();
    repo.add(
        "guard",
        "1",
        components::TENANT_ACCESS,
        "kind = \"policy\"\n[config]\nanonymous = \"m\"\n",
    )
    .unwrap();
    let s = Server::start(BIN, &["--repository", repo.path().to_str().unwrap()]).unwrap();
    let c = client();
    let (code, _, err) = cli(&s, &["promote", "m", "1"]);
    assert_eq!(code, 0, "{err}");
    for args in [
        &["canary", "m", "2", "--weight", "50"][..],
        &["shadow", "m", "3"],
    ] {
        let (code, _, err) = cli(&s, args);
        assert_eq!(code, 0, "{err}");
    }
    for _ in 0..20 {
        assert_eq!(score(&c, &s, "/v2/models/m/infer").0, 200);
    }
    let wrong =
        json!({"inputs": [{"name": "nope", "shape": [1], "datatype": "FP32", "data": [1]}]});
    for _ in 0..3 {
        let r = c
            .post(s.url("/v2/models/m/versions/1/infer"))
            .json(&wrong)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 400);
    }
    assert!(edgeserve_test_support::wait_until(
        Duration::from_secs(10),
        || { model_status(&c, &s)["versions"][2]["shadow_compared"].as_u64() >= Some(5) }
    ));
    for _ in 0..2 {
        let (code, _, err) = cli(&s, &["canary", "m", "--clear"]);
        assert_eq!(code, 0, "{err}");
    }

    let (code, out, err) = cli(&s, &["status", "m"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("m  primary 1, shadow 3"), "{out}");
    assert!(
        lines[1].starts_with("  VERSION  ROLE     CALLS  4XX  5XX  SHADOW"),
        "{out}"
    );
    let v1: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(&v1[..5], ["1", "primary", v1[2], "3", "0"], "{out}");
    assert!(v1[2].parse::<u64>().unwrap() >= 10, "{out}");
    assert!(lines[4].contains("% of "), "the shadow's agreement: {out}");
    assert!(out.contains("  recent events:"), "{out}");
    assert!(out.contains("canary m@2 cleared"), "{out}");
    assert!(out.contains(" UTC (") && out.contains("s ago)"), "{out}");
    for absent in ["had no canary", "previous [", "[]"] {
        assert!(!out.contains(absent), "{absent:?} in {out}");
    }

    let (code, out, err) = cli(&s, &["status"]);
    assert_eq!(code, 0, "{err}");
    let policy = out
        .split("\n\n")
        .find(|block| block.starts_with("guard (policy)"))
        .unwrap_or_else(|| panic!("no policy block in {out}"));
    assert!(
        policy.contains("VERSION  ROLE     CALLS  ALLOWED  DENIED  REWROTE  FAILED"),
        "{policy}"
    );
    assert!(
        !policy.contains("SHADOW") && !policy.contains("4XX"),
        "{policy}"
    );
}
