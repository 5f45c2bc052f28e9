//! Baton's wire format: the generated protobuf messages and tonic services of
//! `proto/baton.proto`, and how a refusal's problems travel in a gRPC status
//! ([`refusal`]). Conversions to and from the domain types live in the
//! crates that own those types.

pub mod refusal;

#[allow(clippy::all, missing_docs)]
pub mod v1 {
    tonic::include_proto!("baton.v1");
}

pub use v1::*;

/// The encoded file descriptor set, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/baton_descriptor.bin"));

/// The version of the executor protocol this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;
