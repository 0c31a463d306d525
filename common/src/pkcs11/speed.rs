//! The token's raw signing rate, measured the way zone-sign signs: the same
//! mechanisms (host hashing, `CKM_ECDSA`, `CKM_RSA_PKCS` over DigestInfo,
//! `CKM_EDDSA`), one logged-in session per worker, a key found once per
//! session. Like OpenDNSSEC's ods-hsmspeed or Knot's keystore-bench, it
//! tells an operator what their HSM can do before a zone is signed with it.
//!
//! The key is either a session object made for the measurement
//! (`CKA_TOKEN` false: it disappears with the sessions and leaves nothing
//! on the token) or a key already on the token, found by label — the key
//! zone-sign will sign with. The two can differ a lot: SoftHSM2 locks and
//! checks a token object's file on every operation (measured here: 24k
//! ECDSA signatures/s with a session key, 15k with a token key).
//!
//! [`self_test`] is `--test`: one session key pair per DNSSEC algorithm,
//! signed with and verified in software, like Knot's `keymgr
//! keystore-test`.

use crate::algorithm::{Algorithm, KeyKind};
use crate::dnskey::{check_key_fits, default_algorithm};
use crate::error::{Error, Result};
use crate::pin::Pin;
use crate::pkcs11::keygen::{generate_session_pair, KeyGenRequest, KeySpec, Protection};
use crate::pkcs11::keypair::find_key_pair;
use crate::pkcs11::object::ObjectSelector;
use crate::pkcs11::signer::{Pkcs11KeyStore, TokenKey};
use crate::pkcs11::{Module, SlotSummary};
use crate::sign::verify::Verifier;
use crate::sign::KeyStore;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectHandle};
use cryptoki::session::Session;
use std::time::{Duration, Instant};

/// The outcome of a measurement.
#[derive(Clone, Debug)]
pub struct SpeedReport {
    pub algorithm: Algorithm,
    pub sessions: usize,
    pub signatures: u64,
    pub elapsed: Duration,
}

impl SpeedReport {
    /// Signatures per second.
    pub fn per_second(&self) -> f64 {
        self.signatures as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Which key to measure with.
#[derive(Clone, Debug)]
pub enum SpeedKey {
    /// A session key made for the measurement (`rsa_bits` for RSA).
    Fresh { algorithm: Algorithm, rsa_bits: u32 },
    /// The private key on the token with this label; `algorithm` for an
    /// RSA key (default RSASHA256), else the key's own.
    Label {
        label: String,
        algorithm: Option<Algorithm>,
    },
}

/// Signs for `duration` with `sessions` sessions and `key`.
pub fn measure(
    module: &Module,
    slot: &SlotSummary,
    pin: Option<&Pin>,
    key: &SpeedKey,
    sessions: usize,
    duration: Duration,
) -> Result<SpeedReport> {
    let keygen_session = module.open_session(slot, true)?;
    if let Some(pin) = pin {
        module.login_with_pin(&keygen_session, slot, pin)?;
    }
    let (private, algorithm, description) = match key {
        SpeedKey::Fresh {
            algorithm,
            rsa_bits,
        } => {
            let private = session_key(&keygen_session, *algorithm, *rsa_bits)?;
            (private, *algorithm, format!("the {algorithm} session key"))
        }
        SpeedKey::Label { label, algorithm } => {
            let selector = ObjectSelector {
                label: Some(label.clone().into_bytes()),
                ..ObjectSelector::default()
            };
            let pair = find_key_pair(&keygen_session, &selector)?;
            let algorithm = algorithm.unwrap_or_else(|| default_algorithm(&pair.public_key));
            check_key_fits(&pair.public_key, algorithm)?;
            let private = pair.private.ok_or_else(|| {
                Error::NotFound(format!(
                    "key '{label}': the token shows no private key for it"
                ))
            })?;
            (private, algorithm, format!("key '{label}'"))
        }
    };

    // One store per worker, each with its own session. Object handles are
    // valid in every session of the application (PKCS#11 §2.4).
    let mut stores = Vec::with_capacity(sessions);
    for _ in 0..sessions {
        let session = module.open_session(slot, false)?;
        if let Some(pin) = pin {
            module.login_with_pin(&session, slot, pin)?;
        }
        stores.push(Pkcs11KeyStore {
            sessions: vec![session],
            keys: vec![TokenKey::new(0, private, algorithm, description.clone())],
            // Nothing to reopen: a measurement that loses its session fails.
            reopen: None,
        });
    }
    let data = vec![0x5a_u8; 512];
    let started = Instant::now();
    let counts: Vec<Result<u64>> = std::thread::scope(|scope| {
        let mut handles = Vec::with_capacity(stores.len());
        for store in stores.iter_mut() {
            let data = &data;
            handles.push(crate::threads::spawn_scoped(
                scope,
                "a signing",
                move || {
                    let mut count = 0u64;
                    while started.elapsed() < duration {
                        store.sign(0, data)?;
                        count += 1;
                    }
                    Ok(count)
                },
            ));
        }
        handles
            .into_iter()
            .map(|started| {
                started.and_then(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(Error::Failed("a worker panicked".into())))
                })
            })
            .collect()
    });
    let elapsed = started.elapsed();
    let mut signatures = 0;
    for count in counts {
        signatures += count?;
    }
    drop(keygen_session);
    Ok(SpeedReport {
        algorithm,
        sessions,
        signatures,
        elapsed,
    })
}

/// Makes a session key pair of `algorithm`; returns the private key.
fn session_key(session: &Session, algorithm: Algorithm, rsa_bits: u32) -> Result<ObjectHandle> {
    let label = format!("p11dnssec-speed-{}", std::process::id());
    let (mut public_template, mechanism) = match algorithm.key_kind() {
        KeyKind::Rsa => (
            vec![
                Attribute::ModulusBits(u64::from(rsa_bits).into()),
                Attribute::PublicExponent(vec![1, 0, 1]),
            ],
            Mechanism::RsaPkcsKeyPairGen,
        ),
        KeyKind::Ec(curve) => (
            vec![Attribute::EcParams(curve.ec_params())],
            if curve.is_edwards() {
                Mechanism::EccEdwardsKeyPairGen
            } else {
                Mechanism::EccKeyPairGen
            },
        ),
    };
    public_template.extend([
        Attribute::Token(false),
        Attribute::Verify(true),
        Attribute::Label(label.clone().into_bytes()),
    ]);
    let private_template = [
        Attribute::Token(false),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Sign(true),
        Attribute::Label(label.clone().into_bytes()),
    ];
    let (_, private) = session
        .generate_key_pair(&mechanism, &public_template, &private_template)
        .map_err(|e| Error::pkcs11("generating a session key to measure with", e))?;
    Ok(private)
}

/// The outcome of one algorithm's self-test.
#[derive(Clone, Debug)]
pub struct SelfTest {
    pub algorithm: Algorithm,
    /// The key that was made: `RSA 2048`, `P-256`, `Ed25519`.
    pub key: String,
    /// `None` when the key pair was made, signed with, verified in software
    /// and destroyed; else what failed.
    pub error: Option<String>,
}

/// RSA key size of the self-test: the default of pkcs11-keygen, the size
/// operators make.
const SELF_TEST_RSA_BITS: u32 = crate::pkcs11::keygen::DEFAULT_RSA_BITS;

/// Tests every algorithm in `algorithms` as Knot's `keymgr keystore-test`
/// does: makes a key pair with pkcs11-keygen's templates, signs with it as
/// zone-sign does, verifies the signature in software (and that a changed
/// message does not verify), destroys the pair. The keys are session
/// objects in a read-only session, so nothing persistent can change on the
/// token; a failure of one algorithm is reported and the next is tested.
pub fn self_test(
    module: &Module,
    slot: &SlotSummary,
    pin: Option<&Pin>,
    algorithms: &[Algorithm],
) -> Result<Vec<SelfTest>> {
    let session = module.open_session(slot, false)?;
    if let Some(pin) = pin {
        module.login_with_pin(&session, slot, pin)?;
    }
    let mut store = Pkcs11KeyStore {
        sessions: vec![session],
        keys: Vec::new(),
        reopen: None,
    };
    let mut results = Vec::with_capacity(algorithms.len());
    for &algorithm in algorithms {
        let spec = match algorithm.key_kind() {
            KeyKind::Rsa => KeySpec::Rsa {
                bits: SELF_TEST_RSA_BITS,
                large_exponent: false,
            },
            KeyKind::Ec(curve) => KeySpec::Ec(curve),
        };
        let error = test_one(&mut store, algorithm, spec)
            .err()
            .map(|e| e.to_string());
        results.push(SelfTest {
            algorithm,
            key: spec.describe(),
            error,
        });
    }
    Ok(results)
}

fn test_one(store: &mut Pkcs11KeyStore, algorithm: Algorithm, spec: KeySpec) -> Result<()> {
    let request = KeyGenRequest {
        label: format!(
            "p11dnssec-test-{}-{}",
            algorithm.number(),
            std::process::id()
        )
        .into_bytes(),
        id: Some(b"p11dnssec-self-test".to_vec()),
        spec,
        protection: Protection::Sensitive,
        modifiable: false,
    };
    let pair = generate_session_pair(&store.sessions[0], &request)?;
    store.keys.push(TokenKey::new(
        0,
        pair.private,
        algorithm,
        format!("the {algorithm} test key"),
    ));
    let index = store.keys.len() - 1;
    let data = b"p11dnssec self-test: RRSIG RDATA and RRset in canonical form";
    let signed = store.sign(index, data).and_then(|signature| {
        let verifier = Verifier::new(&pair.public_key, algorithm)?;
        if !verifier.verify(data, &signature) {
            return Err(Error::Failed(format!(
                "the token's {algorithm} signature does not verify"
            )));
        }
        if verifier.verify(b"another message", &signature) {
            return Err(Error::Failed(format!(
                "the {algorithm} signature verifies for another message too"
            )));
        }
        Ok(())
    });
    let session = &store.sessions[0];
    let destroyed = [pair.private, pair.public]
        .into_iter()
        .try_for_each(|handle| {
            session
                .destroy_object(handle)
                .map_err(|e| Error::pkcs11("destroying the test key", e))
        });
    signed.and(destroyed)
}
