//! Faulty components hurt only their own request: a deadline overrun is a
//! 504, a memory bomb or a trap a 500 naming the cause, and the host goes on
//! serving that model and the others. In-process (the node's log is
//! captured by the harness).

use std::time::Duration;

mod app;

use app::App;
use edgeserve_test_support::{Repo, components};
use serde_json::{Value, json};

fn faulty_manifest(mode: &str, isolation: &str) -> String {
    format!(
        "isolation = \"{isolation}\"\n[limits]\nmemory = \"32MiB\"\ndeadline = \"300ms\"\npool_size = 2\n[config]\nmode = \"{mode}\"\n"
    )
}

fn infer(s: &App, model: &str, params: Value) -> (u16, String) {
    let body = json!({"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "data": [1.5, -2]}], "parameters": params});
    let r = s.post_json(&format!("/v2/models/{model}/infer"), &body);
    (r.status, r.text())
}

fn iris_ok(s: &App) {
    let body = json!({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]});
    assert_eq!(s.post_json("/v2/models/iris/infer", &body).status, 200);
}

#[test]
fn faults_are_contained_in_both_isolation_modes() {
    let repo = Repo::new().unwrap();
    repo.add_example("iris", "1", components::IRIS).unwrap();
    for isolation in ["pooled", "fresh"] {
        for mode in [
            "loop",
            "sleep",
            "alloc",
            "panic",
            "error",
            "invalid",
            "bad-output",
            "echo",
        ] {
            repo.add(
                &format!("{mode}-{isolation}"),
                "1",
                components::FAULTY,
                &faulty_manifest(mode, isolation),
            )
            .unwrap();
        }
    }
    let s = App::start(&repo, "");
    for isolation in ["pooled", "fresh"] {
        let expect: [(&str, u16, &str); 7] = [
            ("loop", 504, "exceeded its deadline"),
            ("sleep", 504, "exceeded its deadline"),
            ("alloc", 500, "exceeded its memory limit of 32MiB"),
            ("panic", 500, "faulty model panicked on purpose"),
            ("error", 500, "faulty model failed on purpose"),
            ("invalid", 400, "faulty model rejects this input"),
            ("bad-output", 500, "malformed response"),
        ];
        for (mode, status, needle) in expect {
            let model = format!("{mode}-{isolation}");
            // Twice: a trapped pooled instance must be replaced, not reused.
            for _ in 0..2 {
                let (st, body) = infer(&s, &model, json!({}));
                assert_eq!(st, status, "{model}: {body}");
                let v: Value = serde_json::from_str(&body).unwrap();
                assert!(
                    v["error"].as_str().unwrap().contains(needle),
                    "{model}: {body}"
                );
            }
            // The same model answers when asked to behave, and so do others.
            let (st, body) = infer(&s, &model, json!({"mode": "echo"}));
            assert_eq!(st, 200, "{model} after fault: {body}");
            iris_ok(&s);
        }
    }
    assert_eq!(s.get("/v2/health/live").status, 200);
}

#[test]
fn concurrent_faults_do_not_disturb_healthy_traffic() {
    let repo = Repo::new().unwrap();
    repo.add_example("iris", "1", components::IRIS).unwrap();
    repo.add(
        "loop",
        "1",
        components::FAULTY,
        &faulty_manifest("loop", "pooled"),
    )
    .unwrap();
    repo.add(
        "alloc",
        "1",
        components::FAULTY,
        &faulty_manifest("alloc", "pooled"),
    )
    .unwrap();
    let s = App::start(&repo, "");
    std::thread::scope(|scope| {
        for model in ["loop", "alloc"] {
            let s = &s;
            scope.spawn(move || {
                for _ in 0..5 {
                    let (st, _) = infer(s, model, json!({}));
                    assert!(st == 504 || st == 500, "{model}: {st}");
                }
            });
        }
        for _ in 0..200 {
            iris_ok(&s);
        }
    });
}

#[test]
fn guest_logs_reach_the_host_log() {
    let repo = Repo::new().unwrap();
    repo.add(
        "chatty",
        "1",
        components::FAULTY,
        &faulty_manifest("log", "pooled"),
    )
    .unwrap();
    let s = App::start(&repo, "");
    let (st, body) = infer(&s, "chatty", json!({}));
    assert_eq!(st, 200, "{body}");
    for needle in [
        "hello from the faulty model",
        "printed to stdout",
        "printed to stderr",
    ] {
        assert!(
            s.wait_for_log(needle, Duration::from_secs(5)),
            "{needle} not in:\n{}",
            s.log()
        );
    }
    // Guest text is a quoted field of the host's line, never a line itself.
    assert!(s.log().contains("model=\"chatty@1\""), "{}", s.log());
}

#[test]
fn over_concurrency_is_503_with_retry_after_and_oversized_limits_are_refused() {
    let repo = Repo::new().unwrap();
    repo.add(
        "single",
        "1",
        components::FAULTY,
        "[limits]\nmax_concurrency = 1\ndeadline = \"5s\"\n",
    )
    .unwrap();
    repo.add(
        "huge",
        "1",
        components::FAULTY,
        "[limits]\nmemory = \"64GiB\"\n",
    )
    .unwrap();
    repo.add(
        "vast-pool",
        "1",
        components::FAULTY,
        "[limits]\npool_size = 4000000000\n",
    )
    .unwrap();
    repo.add(
        "forever",
        "1",
        components::FAULTY,
        "[limits]\ndeadline = \"3e15h\"\n",
    )
    .unwrap();
    let s = App::start(&repo, "");
    assert!(s.log().contains("refused what=huge@1"), "{}", s.log());
    assert!(
        s.log().contains("above this host's [runtime] max_memory"),
        "{}",
        s.log()
    );
    assert!(s.log().contains("refused what=vast-pool@1"), "{}", s.log());
    assert!(
        s.log().contains("pool_size 4000000000 is above 4096"),
        "{}",
        s.log()
    );
    assert!(s.log().contains("refused what=forever@1"), "{}", s.log());
    let slow = std::thread::scope(|scope| {
        let busy = scope.spawn(|| infer(&s, "single", json!({"spin_ms": 2500})));
        // Once the slow call is inside the model, a second call must be refused.
        assert!(
            s.wait_for_log("spinning for 2500 ms", Duration::from_secs(30)),
            "{}",
            s.log()
        );
        let mut refused = None;
        while refused.is_none() && !busy.is_finished() {
            let body =
                json!({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]});
            let r = s.post_json("/v2/models/single/infer", &body);
            if r.status == 503 {
                refused = Some((r.header("retry-after").map(str::to_string), r.text()));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let (retry, body) = refused.expect("no 503 while the only slot was busy");
        assert_eq!(retry.as_deref(), Some("1"));
        assert!(body.contains("at capacity"), "{body}");
        busy.join().unwrap()
    });
    assert_eq!(slow.0, 200, "{}", slow.1);
}
