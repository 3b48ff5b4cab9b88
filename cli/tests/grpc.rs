//! The Open Inference Protocol over gRPC, on the data port beside REST:
//! the unmodified `tritonclient[grpc]` from PyPI (health, metadata, FP32
//! and BYTES, streams, every error status with REST's message, API keys
//! and JWTs in metadata, a policy denial, a quota) and a Rust tonic client
//! for what Python cannot easily show.

use std::process::Command;

use edgeserve_test_support::{
    Repo, Server, TestCa, components, python_venv, repo_root, start_with_config, tempfile,
};

const BIN: &str = env!("CARGO_BIN_EXE_edgeserve");

const KEY: &str = "acme-key-0123456789";
const TRIAL_KEY: &str = "trial-key-0123456789";
const JWT_SECRET: &str = "a-test-secret-of-32-bytes-or-more!";

/// A policy version folder with its `config`.
fn add_policy(repo: &Repo, name: &str, component: &str, config: &str) {
    repo.add_policy(name, component, config).unwrap();
}

/// Iris under another name, behind a request policy.
fn add_guarded_iris(repo: &Repo, name: &str, policy: &str) {
    let manifest = format!(
        "component = \"model.wasm\"\n[limits]\nmemory = \"16MiB\"\ndeadline = \"250ms\"\n\n\
         [[policies]]\npolicy = \"{policy}\"\nstages = [\"request\"]\n"
    );
    repo.add(name, "1", components::IRIS, &manifest).unwrap();
}

/// The examples, a faulty model that takes one request at a time, two
/// models behind policies; tenants acme (everything) and trial (iris and
/// private, a burst of 3 requests), by API key or HS256 JWT.
fn start(dir: &std::path::Path) -> (Server, Repo) {
    let repo = Repo::examples().unwrap();
    repo.add(
        "faulty",
        "1",
        components::FAULTY,
        "[config]\nmode = \"echo\"\n[limits]\nmax_concurrency = 1\ndeadline = \"2s\"\n",
    )
    .unwrap();
    add_policy(
        &repo,
        "input-guard",
        components::INPUT_GUARD,
        "\"range.input\" = \"0,10\"",
    );
    add_policy(
        &repo,
        "tenant-access",
        components::TENANT_ACCESS,
        "\"allow.trial\" = \"private\"",
    );
    add_guarded_iris(&repo, "guarded", "input-guard");
    add_guarded_iris(&repo, "private", "tenant-access");
    let secret = dir.join("hs256.secret");
    std::fs::write(&secret, JWT_SECRET).unwrap();
    let hash = edgeserve_node::security::hash_api_key;
    let config = format!(
        "[[auth.api_keys]]\nname = \"acme-svc\"\nsha256 = \"{}\"\ntenant = \"acme\"\n\n\
         [[auth.api_keys]]\nname = \"trial-svc\"\nsha256 = \"{}\"\ntenant = \"trial\"\n\n\
         [auth.jwt]\n[[auth.jwt.keys]]\nalgorithm = \"HS256\"\nsecret_file = \"{}\"\n\n\
         [[tenants]]\nname = \"acme\"\nmodels = [\"iris\", \"sentiment\", \"faulty\", \"guarded\", \
         \"private\"]\n\n\
         [[tenants]]\nname = \"trial\"\nmodels = [\"iris\", \"private\"]\nrate = 0.001\nburst = 3\n",
        hash(KEY),
        hash(TRIAL_KEY),
        secret.display()
    );
    let s = start_with_config(BIN, &repo, dir, &config).unwrap();
    (s, repo)
}

#[test]
fn tritonclient_grpc_scores_streams_and_refuses_as_rest_does() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _repo) = start(dir.path());
    let out = python_checks(
        &s,
        &[
            ("EDGESERVE_KEY", KEY.into()),
            ("EDGESERVE_TRIAL_KEY", TRIAL_KEY.into()),
            ("EDGESERVE_JWT_SECRET", JWT_SECRET.into()),
        ],
    );
    assert!(out.contains("all tritonclient.grpc checks passed"), "{out}");
}

/// Runs the Python checks against `s` with `env`; their output.
fn python_checks(s: &Server, env: &[(&str, String)]) -> String {
    let python = python_venv("py-grpc", "tests/python/requirements-grpc.txt");
    let script = repo_root().join("tests/python/test_tritonclient_grpc.py");
    let out = Command::new(&python)
        .args(["-W", "ignore"])
        .arg(&script)
        .env("EDGESERVE_GRPC", &s.addr)
        .env("EDGESERVE_EXAMPLES", repo_root().join("examples"))
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "tritonclient.grpc checks failed\nstdout:\n{stdout}\nstderr:\n{stderr}\nserver log:\n{}",
        s.log()
    );
    stdout
}

#[test]
fn tritonclient_grpc_over_tls_knows_the_caller_by_its_certificate() {
    let ca = TestCa::new("edgeserve test CA");
    let (server_cert, server_key) = ca.leaf("edgeserve", &["127.0.0.1", "localhost"]);
    let (client_cert, client_key) = ca.leaf("svc-b", &[]);
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let (cert, key, ca_path) = (
        write("server.pem", &server_cert),
        write("server.key", &server_key),
        write("ca.pem", &ca.pem()),
    );
    let config = format!(
        "[server]\ntls_cert = \"{cert}\"\ntls_key = \"{key}\"\ntls_client_ca = \"{ca_path}\"\n\n\
         [[auth.client_certs]]\ncommon_name = \"svc-b\"\ntenant = \"acme\"\n\n\
         [[tenants]]\nname = \"acme\"\nmodels = [\"iris\"]\n"
    );
    let repo = Repo::examples().unwrap();
    let s = start_with_config(BIN, &repo, dir.path(), &config).unwrap();
    assert_eq!(s.scheme, "https");
    let out = python_checks(
        &s,
        &[
            ("EDGESERVE_TLS_CA", ca_path.clone()),
            ("EDGESERVE_TLS_CERT", write("client.pem", &client_cert)),
            ("EDGESERVE_TLS_KEY", write("client.key", &client_key)),
        ],
    );
    assert!(
        out.contains("all tritonclient.grpc TLS checks passed"),
        "{out}"
    );
}

mod tonic_client {
    //! A Rust tonic client, for what Python cannot easily show.

    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use bytes::Bytes;
    use edgeserve_grpc::proto::grpc_inference_service_client::GrpcInferenceServiceClient;
    use edgeserve_grpc::proto::infer_parameter::ParameterChoice;
    use edgeserve_grpc::proto::model_infer_request::InferInputTensor;
    use edgeserve_grpc::proto::{InferParameter, ModelInferRequest, ModelInferResponse};
    use edgeserve_test_support::{
        Repo, Server, components, otlp_exports, otlp_receiver_with, otlp_spans, run,
        start_with_config, tempfile,
    };
    use futures_util::StreamExt;
    use http_body_util::{BodyExt, StreamBody};
    use hyper::body::Frame;
    use prost::Message;
    use tonic::transport::Channel;

    use super::BIN;

    /// The faulty model in echo mode: y = x + offset.
    fn echo(offset: u32, extra: &str) -> String {
        format!(
            "[config]\nmode = \"echo\"\noffset = \"{offset}\"\n[limits]\ndeadline = \"5s\"\n{extra}"
        )
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    }

    /// One HTTP/2 connection (h2c, prior knowledge) to the data port.
    async fn connect(s: &Server) -> GrpcInferenceServiceClient<Channel> {
        connect_to(&s.addr).await
    }

    /// One HTTP/2 connection (h2c, prior knowledge) to `addr`.
    async fn connect_to(addr: &str) -> GrpcInferenceServiceClient<Channel> {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        GrpcInferenceServiceClient::new(channel)
    }

    /// A request for `model`: `x` as one FP32 in raw_input_contents.
    fn request(model: &str, id: String, x: f32, params: &[(&str, i64)]) -> ModelInferRequest {
        ModelInferRequest {
            model_name: model.into(),
            id,
            inputs: vec![InferInputTensor {
                name: "x".into(),
                datatype: "FP32".into(),
                shape: vec![1],
                ..Default::default()
            }],
            raw_input_contents: vec![Bytes::copy_from_slice(&x.to_le_bytes())],
            parameters: params
                .iter()
                .map(|(k, v)| {
                    let choice = ParameterChoice::Int64Param(*v);
                    (
                        k.to_string(),
                        InferParameter {
                            parameter_choice: Some(choice),
                        },
                    )
                })
                .collect(),
            ..Default::default()
        }
    }

    /// The answer's `y`.
    fn y(r: &ModelInferResponse) -> f32 {
        let raw = &r.raw_output_contents[0];
        f32::from_le_bytes(raw[..4].try_into().unwrap())
    }

    #[test]
    fn many_streams_share_one_connection_and_outlive_a_version_swap() {
        let repo = Repo::new().unwrap();
        repo.add("m", "1", components::FAULTY, &echo(0, ""))
            .unwrap();
        let s = Server::start(BIN, &["--repository", repo.path().to_str().unwrap()]).unwrap();
        let rt = runtime();
        let client = rt.block_on(connect(&s));
        const STREAMS: usize = 32;
        const EACH: usize = 60;
        let answered = Arc::new(AtomicUsize::new(0));
        let streams: Vec<_> = (0..STREAMS)
            .map(|k| {
                let mut client = client.clone();
                let answered = answered.clone();
                rt.spawn(async move {
                    // One request every 25 ms: the stream stays open across
                    // the swap below.
                    let requests = futures_util::stream::iter(0..EACH).then(move |i| async move {
                        tokio::time::sleep(Duration::from_millis(25)).await;
                        request("m", format!("{k}-{i}"), (k * 1000 + i) as f32, &[])
                    });
                    let mut answers = client
                        .model_stream_infer(requests)
                        .await
                        .unwrap()
                        .into_inner();
                    let mut got = Vec::new();
                    while let Some(a) = answers.next().await {
                        let a = a.unwrap();
                        answered.fetch_add(1, Ordering::Relaxed);
                        got.push(a);
                    }
                    got
                })
            })
            .collect();
        // Once every stream has answered something, version 2 (offset
        // 100) is deployed and promoted while they run.
        while answered.load(Ordering::Relaxed) < STREAMS * 5 {
            std::thread::sleep(Duration::from_millis(10));
        }
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("manifest.toml");
        std::fs::write(&manifest, echo(100, "")).unwrap();
        let admin = format!("http://{}", s.admin_addr.as_deref().unwrap());
        let deploy = [
            "deploy",
            "--admin",
            &admin,
            "m",
            "2",
            "--component",
            components::FAULTY,
            "--manifest",
            manifest.to_str().unwrap(),
        ];
        let (code, out, err) = run(BIN, &deploy).unwrap();
        assert_eq!(code, 0, "{out}{err}");
        let (code, out, err) = run(BIN, &["promote", "--admin", &admin, "m", "2"]).unwrap();
        assert_eq!(code, 0, "{out}{err}");
        let swapped_at = answered.load(Ordering::Relaxed);
        assert!(
            swapped_at < STREAMS * EACH,
            "the streams ended before the swap"
        );

        let mut from = [0usize; 2];
        for (k, stream) in streams.into_iter().enumerate() {
            let got = rt.block_on(stream).unwrap();
            assert_eq!(got.len(), EACH, "stream {k} lost answers");
            let mut last_version = 1;
            for (i, a) in got.iter().enumerate() {
                assert_eq!(a.error_message, "", "stream {k} request {i}");
                let r = a.infer_response.as_ref().unwrap();
                assert_eq!(r.id, format!("{k}-{i}"), "answers come in order");
                let version: usize = r.model_version.parse().unwrap();
                let offset = if version == 2 { 100.0 } else { 0.0 };
                assert_eq!(y(r), (k * 1000 + i) as f32 + offset, "{r:?}");
                assert!(version >= last_version, "stream {k} went back to version 1");
                last_version = version;
                from[version - 1] += 1;
            }
            assert_eq!(last_version, 2, "stream {k} never saw version 2");
        }
        assert!(from[0] > 0 && from[1] > 0, "{from:?}");
        assert!(
            !s.log().contains("connection ended with an error"),
            "{}",
            s.log()
        );
    }

    #[test]
    fn a_second_grpc_address_and_open_streams_end_at_shutdown() {
        let repo = Repo::new().unwrap();
        repo.add("m", "1", components::FAULTY, &echo(0, ""))
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut s = start_with_config(
            BIN,
            &repo,
            dir.path(),
            "[server]\nshutdown_timeout = \"60s\"\ngrpc_listen = \"127.0.0.1:0\"\n",
        )
        .unwrap();
        let log = s.log();
        let grpc_addr = log
            .split("gRPC also on http://")
            .nth(1)
            .and_then(|rest| rest.split(|c: char| c.is_whitespace() || c == '"').next())
            .unwrap_or_else(|| panic!("no gRPC address in the log:\n{log}"))
            .to_string();
        assert_ne!(grpc_addr, s.addr);
        let rt = runtime();
        let (tx, mut answers) = rt.block_on(async {
            // The second address serves the same models.
            let mut second = connect_to(&grpc_addr).await;
            let a = second
                .model_infer(request("m", "1".into(), 3.0, &[]))
                .await
                .unwrap();
            assert_eq!(y(&a.into_inner()), 3.0);
            // A stream on the data port, left open after one answer.
            let (tx, rx) = tokio::sync::mpsc::channel(4);
            let mut client = connect(&s).await;
            tx.send(request("m", "s1".into(), 1.0, &[])).await.unwrap();
            let mut answers = client
                .model_stream_infer(tokio_stream_of(rx))
                .await
                .unwrap()
                .into_inner();
            let first = answers.next().await.unwrap().unwrap();
            assert_eq!(y(first.infer_response.as_ref().unwrap()), 1.0);
            (tx, answers)
        });
        // Shutdown: the open stream ends with UNAVAILABLE at once, and
        // the server exits without waiting out its 60 s shutdown_timeout.
        let asked = std::time::Instant::now();
        s.signal("TERM").unwrap();
        let end = rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(20), answers.next()).await
        });
        let status = match end {
            Ok(Some(Err(status))) => status,
            other => panic!(
                "the stream did not end with a status: {other:?}\n{}",
                s.log()
            ),
        };
        assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
        assert!(status.message().contains("shutting down"), "{status:?}");
        let exit = s.wait_exit(Duration::from_secs(50)).unwrap();
        assert!(exit.success(), "{exit:?}\n{}", s.log());
        assert!(
            asked.elapsed() < Duration::from_secs(50),
            "shutdown waited for the stream"
        );
        assert!(s.log().contains("all connections drained"), "{}", s.log());
        drop(tx);
    }

    #[test]
    fn grpc_calls_are_metered_traced_and_logged() {
        let repo = Repo::new().unwrap();
        let dir = repo.add_example("iris", "1", components::IRIS).unwrap();
        let manifest = dir.join("manifest.toml");
        let text = std::fs::read_to_string(&manifest).unwrap();
        std::fs::write(
            &manifest,
            format!("{text}\n[prediction_log]\nsample = 1.0\n"),
        )
        .unwrap();
        let work = tempfile::tempdir().unwrap();
        let (mut receiver, port, out) = otlp_receiver_with(work.path(), &[]);
        let s = start_with_config(
            BIN,
            &repo,
            work.path(),
            &format!(
                "[telemetry]\notlp_endpoint = \"http://127.0.0.1:{port}\"\nexport_interval = \
                 \"300ms\"\ntrace_sample_ratio = 0.0\n"
            ),
        )
        .unwrap();
        let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
        let parent = "00f067aa0ba902b7";
        let rt = runtime();
        rt.block_on(async {
            let mut client = connect(&s).await;
            let x: Vec<u8> = [5.1f32, 3.5, 1.4, 0.2]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect();
            let message = ModelInferRequest {
                model_name: "iris".into(),
                id: "traced-1".into(),
                inputs: vec![InferInputTensor {
                    name: "input".into(),
                    datatype: "FP32".into(),
                    shape: vec![1, 4],
                    ..Default::default()
                }],
                raw_input_contents: vec![Bytes::from(x)],
                ..Default::default()
            };
            let mut req = tonic::Request::new(message);
            let traceparent = format!("00-{trace_id}-{parent}-01");
            req.metadata_mut()
                .insert("traceparent", traceparent.parse().unwrap());
            let a = client.model_infer(req).await.unwrap().into_inner();
            assert_eq!(a.id, "traced-1");
        });
        // The trace continues the client's, the metrics count the call and
        // the inference, the prediction log has the record.
        let mut spans = Vec::new();
        let mut metrics = String::new();
        let ok = edgeserve_test_support::wait_until(Duration::from_secs(20), || {
            let all = otlp_exports(&out);
            spans = otlp_spans(&all);
            metrics = all
                .iter()
                .filter(|e| e["signal"] == "metrics")
                .map(|e| e.to_string())
                .collect();
            metrics.contains("rpc.server.duration")
                && metrics.contains("edgeserve.inference.count")
                && spans.iter().any(|s| s["traceId"] == trace_id)
        });
        assert!(ok, "spans {spans:#?}\nmetrics {metrics}\n{}", s.log());
        let root = spans
            .iter()
            .find(|s| s["parentSpanId"] == parent)
            .unwrap_or_else(|| panic!("no span under the client's: {spans:#?}"));
        assert_eq!(root["traceId"], trace_id);
        assert!(
            root["name"].as_str().unwrap().contains("ModelInfer"),
            "{root}"
        );
        assert!(metrics.contains("\"ModelInfer\""), "{metrics}");
        let admin = format!("http://{}", s.admin_addr.as_deref().unwrap());
        let status = edgeserve_test_support::wait_until(Duration::from_secs(10), || {
            let (_, out, _) = run(BIN, &["status", "--admin", &admin, "--json"]).unwrap();
            out.contains("\"written\":1") || out.contains("\"written\": 1")
        });
        assert!(status, "the prediction log did not record the gRPC call");
        let _ = receiver.kill();
        let _ = receiver.wait();
    }

    #[test]
    fn deadlines_retry_hints_and_metered_bodies() {
        let repo = Repo::new().unwrap();
        repo.add("m", "1", components::FAULTY, &echo(0, ""))
            .unwrap();
        repo.add(
            "one",
            "1",
            components::FAULTY,
            &echo(0, "max_concurrency = 1\n"),
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let s = start_with_config(
            BIN,
            &repo,
            dir.path(),
            "[server]\nmax_body = \"8MiB\"\nmax_inflight_body_per_connection = \"1MiB\"\n",
        )
        .unwrap();
        let rt = runtime();
        rt.block_on(async {
            let mut client = connect(&s).await;

            // grpc-timeout shorter than the model's 5 s deadline: the
            // server stops the call and says why (sent raw: tonic's
            // channel would give up on its own first).
            let mut raw = Raw::connect(&s).await;
            let message = request("m", "t".into(), 1.0, &[("spin_ms", 3000)]).encode_to_vec();
            let (tx, answer) = raw.call(&[("grpc-timeout", "200m")]).await;
            tx.send(frame(&message)).await.unwrap();
            drop(tx);
            let started = std::time::Instant::now();
            let (code, message) = Raw::status(answer.await.unwrap()).await;
            assert_eq!(code.as_deref(), Some("4"), "DEADLINE_EXCEEDED: {message:?}");
            assert!(
                message
                    .unwrap_or_default()
                    .contains("grpc-timeout%20of%20200ms"),
                "the message names the client's timeout"
            );
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "{:?}",
                started.elapsed()
            );

            // The concurrency limit: UNAVAILABLE with a retry delay.
            let mut busy = client.clone();
            let slow = tokio::spawn(async move {
                busy.model_infer(request("one", "a".into(), 1.0, &[("spin_ms", 1500)]))
                    .await
            });
            tokio::time::sleep(Duration::from_millis(400)).await;
            let status = client
                .model_infer(request("one", "b".into(), 2.0, &[]))
                .await
                .unwrap_err();
            assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
            assert!(status.message().contains("at capacity"), "{status:?}");
            assert_eq!(
                edgeserve_grpc::status::retry_delay(&status),
                Some(Duration::from_secs(1))
            );
            assert_eq!(y(&slow.await.unwrap().unwrap().into_inner()), 1.0);

            // A message larger than max_body: refused from its header, in
            // REST's words.
            let mut big = request("m", "big".into(), 1.0, &[]);
            big.raw_input_contents = vec![Bytes::from(vec![0u8; 9 << 20])];
            let status = client.model_infer(big).await.unwrap_err();
            assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
            assert!(status.message().contains("[server] max_body"), "{status:?}");

            // 600 KB on a connection whose budget is 1 MiB: the message is
            // counted once (the meter hands it over to the request's own
            // account), so it is served.
            let mut large = request("m", "large".into(), 0.0, &[]);
            large.inputs[0].shape = vec![150_000];
            large.raw_input_contents = vec![Bytes::from(vec![0u8; 600_000])];
            let a = client.model_infer(large).await.unwrap().into_inner();
            assert_eq!(a.raw_output_contents[0].len(), 600_000);
        });
        rt.block_on(slow_senders_hold_only_their_connections_memory(&s));
    }

    /// Calls that send part of a large message and then nothing: each
    /// one's bytes count against its connection as they arrive, so the
    /// third on one connection is refused at once, and another connection
    /// is served meanwhile.
    async fn slow_senders_hold_only_their_connections_memory(s: &Server) {
        let mut raw = Raw::connect(s).await;
        let mut held = Vec::new();
        let mut refused = None;
        for call in 0..3 {
            let (tx, answer) = raw.call(&[]).await;
            // Kept running: a dropped answer would cancel the call.
            let mut answer = tokio::spawn(answer);
            // A frame announcing 4 MiB, then 400 KiB of it.
            let mut head = vec![0u8];
            head.extend_from_slice(&(4u32 << 20).to_be_bytes());
            tx.send(Bytes::from(head)).await.unwrap();
            tx.send(Bytes::from(vec![0u8; 400 << 10])).await.unwrap();
            match tokio::time::timeout(Duration::from_secs(2), &mut answer).await {
                Err(_) => held.push((tx, answer)),
                Ok(resp) => {
                    refused = Some((call, Raw::status(resp.unwrap().unwrap()).await));
                    break;
                }
            }
        }
        let Some((call, (code, message))) = refused else {
            panic!("no call was refused\n{}", s.log());
        };
        assert_eq!(call, 2, "the first two fit in the connection's 1 MiB");
        assert_eq!(
            code.as_deref(),
            Some("8"),
            "RESOURCE_EXHAUSTED: {message:?}"
        );
        assert!(
            message.unwrap_or_default().contains("this%20connection"),
            "the message names the connection's budget"
        );
        // Another connection is served while those two still hold theirs.
        let mut other = connect(s).await;
        let a = other
            .model_infer(request("m", "ok".into(), 7.0, &[]))
            .await
            .unwrap();
        assert_eq!(y(&a.into_inner()), 7.0);
        drop(held);
    }

    /// A message in gRPC's framing.
    fn frame(message: &[u8]) -> Bytes {
        let mut out = vec![0u8];
        out.extend_from_slice(&(message.len() as u32).to_be_bytes());
        out.extend_from_slice(message);
        Bytes::from(out)
    }

    type RawBody = StreamBody<
        std::pin::Pin<
            Box<
                dyn futures_util::Stream<Item = Result<Frame<Bytes>, std::convert::Infallible>>
                    + Send,
            >,
        >,
    >;

    /// A bare HTTP/2 connection, for calls whose body the test writes
    /// piece by piece and whose headers no gRPC library would send.
    struct Raw {
        sender: hyper::client::conn::http2::SendRequest<RawBody>,
        uri: String,
    }

    impl Raw {
        async fn connect(s: &Server) -> Raw {
            let tcp = tokio::net::TcpStream::connect(&s.addr).await.unwrap();
            let io = hyper_util::rt::TokioIo::new(tcp);
            let (sender, conn) =
                hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io)
                    .await
                    .unwrap();
            tokio::spawn(conn);
            let uri = format!(
                "http://{}/inference.GRPCInferenceService/ModelInfer",
                s.addr
            );
            Raw { sender, uri }
        }

        /// Starts a ModelInfer call; its body is what goes into the sender
        /// (ended when the sender drops).
        async fn call(
            &mut self,
            headers: &[(&str, &str)],
        ) -> (
            tokio::sync::mpsc::Sender<Bytes>,
            impl std::future::Future<
                Output = Result<hyper::Response<hyper::body::Incoming>, hyper::Error>,
            > + use<>,
        ) {
            let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
            let frames = tokio_stream_of(rx).map(|b| Ok(Frame::data(b)));
            let body: RawBody = StreamBody::new(Box::pin(frames));
            let mut req = http::Request::post(self.uri.as_str())
                .header("content-type", "application/grpc")
                .header("te", "trailers");
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            self.sender.ready().await.unwrap();
            (tx, self.sender.send_request(req.body(body).unwrap()))
        }

        /// The answer's `grpc-status` and `grpc-message` (trailers, or the
        /// headers of a trailers-only answer).
        async fn status(
            resp: hyper::Response<hyper::body::Incoming>,
        ) -> (Option<String>, Option<String>) {
            let (parts, body) = resp.into_parts();
            let trailers = body.collect().await.unwrap().trailers().cloned();
            let get = |name: &str| {
                parts
                    .headers
                    .get(name)
                    .or_else(|| trailers.as_ref().and_then(|t| t.get(name)))
                    .map(|v| v.to_str().unwrap().to_string())
            };
            (get("grpc-status"), get("grpc-message"))
        }
    }

    /// A receiver as a stream.
    fn tokio_stream_of<T>(
        rx: tokio::sync::mpsc::Receiver<T>,
    ) -> impl futures_util::Stream<Item = T> {
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) })
    }
}
