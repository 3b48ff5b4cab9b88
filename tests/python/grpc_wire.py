"""Checks edgeserve's gRPC messages against tritonclient's, field for field.

Usage: python grpc_wire.py OURS.pb
OURS.pb is a FileDescriptorSet of grpc/proto/inference.proto. Every message
and method in it must exist in tritonclient's `inference` package with the
same field names, numbers, types and repetition (and the same streaming
flags), so what tritonclient sends is what edgeserve reads. Exit 1 on any
difference.
"""

import sys

from google.protobuf import descriptor_pb2, descriptor_pool
from tritonclient.grpc import model_config_pb2 as their_config
from tritonclient.grpc import service_pb2 as theirs

fds = descriptor_pb2.FileDescriptorSet.FromString(open(sys.argv[1], "rb").read())
pool = descriptor_pool.DescriptorPool()
for f in fds.file:
    pool.Add(f)
ours = pool.FindFileByName("inference.proto")


def fields(m):
    return {
        f.name: (f.number, f.type, f.is_repeated, (f.message_type or f.enum_type).full_name if (f.message_type or f.enum_type) else None)
        for f in m.fields
    }


problems = []


def compare(a, b, path):
    if b is None:
        problems.append(f"{path}: not in tritonclient")
        return
    theirs_fields = fields(b)
    for name, shape in fields(a).items():
        if theirs_fields.get(name) != shape:
            problems.append(f"{path}.{name}: ours {shape}, tritonclient's {theirs_fields.get(name)}")
    for name, nested in a.nested_types_by_name.items():
        compare(nested, b.nested_types_by_name.get(name), f"{path}.{name}")


def their_message(name):
    # tritonclient keeps ModelConfig and its parts in model_config.proto
    # (the same `inference` package).
    for f in (theirs.DESCRIPTOR, their_config.DESCRIPTOR):
        if name in f.message_types_by_name:
            return f.message_types_by_name[name]
    return None


for name, message in ours.message_types_by_name.items():
    compare(message, their_message(name), name)
for name, enum in ours.enum_types_by_name.items():
    t = their_config.DESCRIPTOR.enum_types_by_name.get(name)
    ours_values = {v.name: v.number for v in enum.values}
    their_values = {v.name: v.number for v in t.values} if t else None
    if ours_values != their_values:
        problems.append(f"enum {name}: ours {ours_values}, tritonclient's {their_values}")
ours_service = ours.services_by_name["GRPCInferenceService"]
their_service = theirs.DESCRIPTOR.services_by_name["GRPCInferenceService"]
for m in ours_service.methods:
    t = their_service.methods_by_name.get(m.name)
    if t is None:
        problems.append(f"rpc {m.name}: not in tritonclient")
        continue
    ours_shape = (m.input_type.name, m.output_type.name, m.client_streaming, m.server_streaming)
    their_shape = (t.input_type.name, t.output_type.name, t.client_streaming, t.server_streaming)
    if ours_shape != their_shape:
        problems.append(f"rpc {m.name}: ours {ours_shape}, tritonclient's {their_shape}")
print(
    f"checked {len(ours.message_types_by_name)} messages and {len(ours_service.methods)} methods "
    f"against tritonclient: {len(problems)} differences"
)
for p in problems:
    print(p)
sys.exit(1 if problems else 0)
