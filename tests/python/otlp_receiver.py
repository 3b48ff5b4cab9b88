"""A test OTLP/HTTP receiver: decodes what an exporter sends with the
official OpenTelemetry protobuf definitions (the `opentelemetry-proto`
package) and appends one JSON line per export request to a file.

    python otlp_receiver.py --out exports.jsonl [--port 0] [--tls-cert C --tls-key K]

It listens on 127.0.0.1 (port 0 picks a free one) and prints
`listening on <port>` to stdout once it accepts connections. It serves

- POST /v1/metrics: an ExportMetricsServiceRequest;
- POST /v1/traces: an ExportTraceServiceRequest;

as `application/x-protobuf` (or `application/json`), optionally with
`Content-Encoding: gzip`, and answers 200 with an empty
Export*ServiceResponse of the same content type. Anything it cannot decode
gets a 4xx and a line on stderr, never a line in the output file.

Each output line is the request as `google.protobuf.json_format.MessageToDict`
gives it (lowerCamelCase keys, 64-bit integers as strings, e.g.
`resourceMetrics[].scopeMetrics[].metrics[].name`) plus:

- `"signal"`: `"metrics"` or `"traces"`;
- `"headers"`: the request's HTTP headers, names lowercased;

and with `traceId`, `spanId` and `parentSpanId` as lowercase hex (as in
OTLP/JSON and W3C `traceparent`) instead of protobuf JSON's base64.
"""

import argparse
import base64
import gzip
import json
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

# path -> (signal name, request type, response type)
SIGNALS = {
    "/v1/metrics": (
        "metrics",
        metrics_service_pb2.ExportMetricsServiceRequest,
        metrics_service_pb2.ExportMetricsServiceResponse,
    ),
    "/v1/traces": (
        "traces",
        trace_service_pb2.ExportTraceServiceRequest,
        trace_service_pb2.ExportTraceServiceResponse,
    ),
}

# Byte fields that OTLP/JSON writes as hex.
HEX_ID_FIELDS = {"traceId", "spanId", "parentSpanId"}

# Bodies larger than this are refused (a test receiver needs no more).
MAX_BODY = 64 * 1024 * 1024


def ids_to_hex(value):
    """Rewrites the base64 trace and span ids of a MessageToDict result as
    lowercase hex, in place, at any depth."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in HEX_ID_FIELDS and isinstance(item, str):
                value[key] = base64.b64decode(item).hex()
            else:
                ids_to_hex(item)
    elif isinstance(value, list):
        for item in value:
            ids_to_hex(item)
    return value


class Receiver(BaseHTTPRequestHandler):
    """Handles one connection (HTTP/1.1, keep-alive)."""

    protocol_version = "HTTP/1.1"
    # Set on the class by main().
    out = None
    lock = threading.Lock()

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        """Quiet: no access log on stderr."""

    def reply(self, status, body=b"", content_type="text/plain"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def refuse(self, status, why):
        # The body may be unread: this connection cannot carry another request.
        self.close_connection = True
        print(f"otlp_receiver: {self.command} {self.path}: {why}", file=sys.stderr, flush=True)
        self.reply(status, why.encode() + b"\n")

    def read_body(self):
        """The request body, de-chunked and gunzipped; None after a refusal."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    # trailers, up to the empty line
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > MAX_BODY:
                    self.refuse(413, "body too large")
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            body = b"".join(chunks)
        else:
            length = int(self.headers.get("Content-Length", "0"))
            if length > MAX_BODY:
                self.refuse(413, "body too large")
                return None
            body = self.rfile.read(length)
        encoding = self.headers.get("Content-Encoding", "identity").lower()
        if encoding == "gzip":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError) as e:
                self.refuse(400, f"bad gzip body: {e}")
                return None
        elif encoding not in ("identity", ""):
            self.refuse(415, f"unsupported Content-Encoding {encoding}")
            return None
        return body

    def do_POST(self):
        route = SIGNALS.get(self.path.split("?")[0])
        if route is None:
            self.refuse(404, "not an OTLP path (use /v1/metrics or /v1/traces)")
            return
        signal, request_type, response_type = route
        try:
            body = self.read_body()
        except ValueError as e:  # a bad Content-Length or chunk size
            self.refuse(400, f"bad request framing: {e}")
            return
        if body is None:
            return
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        message = request_type()
        try:
            if content_type == "application/x-protobuf":
                message.ParseFromString(body)
                answer = response_type().SerializeToString()
            elif content_type == "application/json":
                json_format.Parse(body, message)
                answer = json_format.MessageToJson(response_type()).encode()
            else:
                self.refuse(415, f"unsupported Content-Type {content_type!r}")
                return
        except (DecodeError, json_format.ParseError, ValueError) as e:
            self.refuse(400, f"cannot decode {request_type.__name__}: {e}")
            return
        record = ids_to_hex(json_format.MessageToDict(message))
        record["signal"] = signal
        record["headers"] = {k.lower(): v for k, v in self.headers.items()}
        line = json.dumps(record, sort_keys=True) + "\n"
        with self.lock:
            self.out.write(line)
            self.out.flush()
        self.reply(200, answer, content_type)

    def do_GET(self):
        self.refuse(405, "OTLP receivers take POST only")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="JSON Lines file to append to")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free one)")
    parser.add_argument("--tls-cert", help="PEM certificate: serve HTTPS (with --tls-key)")
    parser.add_argument("--tls-key", help="PEM private key for --tls-cert")
    args = parser.parse_args()
    Receiver.out = open(args.out, "a", encoding="utf-8")
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Receiver)
    server.daemon_threads = True
    if args.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print(f"listening on {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        Receiver.out.close()


if __name__ == "__main__":
    main()
