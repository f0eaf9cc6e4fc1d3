"""Drive the SDK's own dynamic-provider gRPC server exactly as the Pulumi engine does.

The engine launches `python -u -m pulumi.dynamic`, reads the port it prints, calls
Configure once with the stack config, then Check/Diff/Create/Read/Update/Delete with
protobuf Structs in which `__provider` holds the provider pickled by the SDK's
`serialize_provider`. Olds are previous outputs, old_inputs previous inputs, and a
preview sends unknowns. This is the closest thing to `pulumi up` without the CLI.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

import grpc
from google.protobuf import struct_pb2
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import proto, rpc
from pulumi.runtime.proto import provider_pb2_grpc

from provider import BrightbackProvider

PROVIDER_KEY = "__provider"
TYPE = "pulumi-python:dynamic/brightback:Integration"
SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"


def secret(value: Any) -> dict[str, Any]:
    """A value marked secret on the wire, as the engine sends secret config."""
    return {SECRET_SIG_KEY: SECRET_SIG, "value": value}


def to_struct(props: Mapping[str, Any]) -> struct_pb2.Struct:
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(rpc.serialize_properties(dict(props), {}))
    finally:
        loop.close()


def from_struct(struct: struct_pb2.Struct) -> dict[str, Any]:
    return dict(rpc.deserialize_properties(struct, keep_unknowns=True))


class DynamicProviderServer:
    """One `python -m pulumi.dynamic` process and a stub to call it."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.blob = serialize_provider(BrightbackProvider())
        self.process = subprocess.Popen(
            [sys.executable, "-u", "-m", "pulumi.dynamic"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **env},
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().decode().strip()
        if not line.isdigit():
            self.close()
            raise RuntimeError(f"pulumi.dynamic did not print a port: {line!r}")
        self.port = int(line)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        grpc.channel_ready_future(self.channel).result(timeout=30)
        self.stub = provider_pb2_grpc.ResourceProviderStub(self.channel)

    def close(self) -> None:
        if hasattr(self, "channel"):
            self.channel.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()

    @staticmethod
    def urn(name: str) -> str:
        return f"urn:pulumi:dev::brightback-demo::{TYPE}::{name}"

    def with_blob(self, props: Mapping[str, Any]) -> dict[str, Any]:
        return {**props, PROVIDER_KEY: self.blob}

    # The verbs. Each takes and returns plain dicts; `__provider` is added where the
    # engine would have it (inputs from the program, outputs stored in state).

    def configure(self, config: Mapping[str, Any], variables: Mapping[str, str]) -> Any:
        """Stack config: `variables` as strings, `args` as values (secrets marked)."""
        return self.stub.Configure(
            proto.ConfigureRequest(
                variables=dict(variables), args=to_struct(config), acceptSecrets=True
            )
        )

    def check(
        self, name: str, olds: Mapping[str, Any], news: Mapping[str, Any]
    ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        response = self.stub.Check(
            proto.CheckRequest(
                urn=self.urn(name),
                olds=to_struct(self.with_blob(olds) if olds else {}),
                news=to_struct(self.with_blob(news)),
            )
        )
        return from_struct(response.inputs), [(f.property, f.reason) for f in response.failures]

    def diff(
        self,
        name: str,
        id_: str,
        olds: Mapping[str, Any],
        news: Mapping[str, Any],
        old_inputs: Mapping[str, Any],
    ) -> Any:
        return self.stub.Diff(
            proto.DiffRequest(
                id=id_,
                urn=self.urn(name),
                olds=to_struct(olds),
                news=to_struct(news),
                old_inputs=to_struct(old_inputs),
            )
        )

    def create(self, name: str, checked: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        response = self.stub.Create(
            proto.CreateRequest(urn=self.urn(name), properties=to_struct(checked))
        )
        return response.id, from_struct(response.properties)

    def read(
        self, name: str, id_: str, outputs: Mapping[str, Any], inputs: Mapping[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        response = self.stub.Read(
            proto.ReadRequest(
                id=id_, urn=self.urn(name), properties=to_struct(outputs), inputs=to_struct(inputs)
            )
        )
        return response.id, from_struct(response.properties)

    def update(
        self,
        name: str,
        id_: str,
        olds: Mapping[str, Any],
        news: Mapping[str, Any],
        old_inputs: Mapping[str, Any],
    ) -> dict[str, Any]:
        response = self.stub.Update(
            proto.UpdateRequest(
                id=id_,
                urn=self.urn(name),
                olds=to_struct(olds),
                news=to_struct(news),
                old_inputs=to_struct(old_inputs),
            )
        )
        return from_struct(response.properties)

    def delete(
        self, name: str, id_: str, outputs: Mapping[str, Any], old_inputs: Mapping[str, Any]
    ) -> None:
        self.stub.Delete(
            proto.DeleteRequest(
                id=id_,
                urn=self.urn(name),
                properties=to_struct(outputs),
                old_inputs=to_struct(old_inputs),
            )
        )


__all__ = ["PROVIDER_KEY", "DynamicProviderServer", "from_struct", "secret", "to_struct"]
