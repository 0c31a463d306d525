//! p11dnssec's shared library: everything the tools under `tools/` do,
//! split by concept. Only `cli`, `output` and `pkcs11` touch the outside
//! world; the rest is plain data in, plain data out.

pub mod algorithm;
pub mod audit;
pub mod backup;
pub mod cli;
pub mod dnskey;
pub mod ds;
pub mod error;
pub mod inputs;
pub mod keyfile;
pub mod keymeta;
pub mod keymgr;
pub mod keys;
pub mod keysource;
pub mod ksr;
pub mod name;
pub mod output;
pub mod parent_ds;
pub mod pin;
pub mod pkcs11;
pub mod progress;
pub mod rdata;
pub mod record;
pub mod sign;
pub mod threads;
pub mod time;
pub mod uri;
pub mod verify_zone;
pub mod zone;

pub use error::{Error, Result};
