//! Signing with keys in tokens: the [`KeyStore`] the zone signer uses.
//!
//! Each key is found once; signing hashes on the host where the mechanism
//! allows (ECDSA: `CKM_ECDSA` over the SHA-256/384 digest; RSA:
//! `CKM_RSA_PKCS` over DigestInfo and digest, falling back to the hashing
//! `CKM_SHA*_RSA_PKCS` mechanisms when a token refuses raw RSA; EdDSA:
//! `CKM_EDDSA` over the data, as RFC 8032 requires).

use crate::algorithm::{Algorithm, KeyKind};
use crate::error::{Error, Result};
use crate::sign::KeyStore;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::ObjectHandle;
use cryptoki::session::Session;
use sha2::Digest;

/// DER DigestInfo prefixes (RFC 8017 §9.2, note 1).
const DIGEST_INFO_SHA1: &[u8] = &[
    0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14,
];
const DIGEST_INFO_SHA256: &[u8] = &[
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];
const DIGEST_INFO_SHA512: &[u8] = &[
    0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05,
    0x00, 0x04, 0x40,
];

/// One signing key: which session, which object, which algorithm.
#[derive(Clone)]
pub struct TokenKey {
    pub session: usize,
    pub private: ObjectHandle,
    pub algorithm: Algorithm,
    /// For messages.
    pub description: String,
    /// The token refused raw RSA: use the hashing mechanism.
    rsa_hash_in_token: bool,
}

impl TokenKey {
    /// A key in session number `session`.
    pub fn new(
        session: usize,
        private: ObjectHandle,
        algorithm: Algorithm,
        description: String,
    ) -> TokenKey {
        TokenKey {
            session,
            private,
            algorithm,
            description,
            rsa_hash_in_token: false,
        }
    }
}

/// Keys in one or more token sessions.
pub struct Pkcs11KeyStore {
    pub sessions: Vec<Session>,
    pub keys: Vec<TokenKey>,
    /// How to open the sessions again after the token lost them.
    pub reopen: Option<Reopen>,
}

/// What it takes to reopen a store's sessions: the module, each session's
/// token and PIN, and each key's selector (object handles die with the
/// session that found them).
#[derive(Clone)]
pub struct Reopen {
    pub context: cryptoki::context::Pkcs11,
    pub slots: Vec<(cryptoki::slot::Slot, Option<crate::pin::Pin>)>,
    pub selectors: Vec<crate::pkcs11::object::ObjectSelector>,
    /// Tell each retry at `-v 2` only: in a pool of tokens, the pool says
    /// once which token it gave up on.
    pub quiet: bool,
    /// The token each of `slots` held when the run began (`None`: not
    /// known): checked before logging in again.
    pub tokens: Vec<Option<TokenIdentity>>,
}

/// A token as the run found it. A slot that holds another token when a
/// session is reopened (a token swapped in, slots renumbered after a
/// re-plug) must not be sent the PIN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenIdentity {
    pub label: String,
    pub serial: String,
}

impl TokenIdentity {
    /// The label and serial of a token's info, padding trimmed.
    pub fn of(info: &cryptoki::slot::TokenInfo) -> TokenIdentity {
        TokenIdentity {
            label: info.label().trim_end().to_string(),
            serial: info.serial_number().trim_end().to_string(),
        }
    }
}

/// Checks (before any login) that `slot` still holds `expected`: the
/// refusal when it holds another token, `None` when it is the same (or
/// not known); an error when the token cannot be read (still away).
pub fn token_changed(
    context: &cryptoki::context::Pkcs11,
    slot: cryptoki::slot::Slot,
    expected: Option<&TokenIdentity>,
    name: &str,
) -> Result<Option<String>> {
    let Some(expected) = expected else {
        return Ok(None);
    };
    let info = context
        .get_token_info(slot)
        .map_err(|e| Error::pkcs11(format!("reading the token in {name}"), e))?;
    let found = TokenIdentity::of(&info);
    Ok((found != *expected).then(|| {
        format!(
            "{name} now holds token '{}', serial '{}', not token '{}', serial '{}': not logging in",
            found.label, found.serial, expected.label, expected.serial
        )
    }))
}

/// A refused PIN: every login with it uses up one of the token's PIN
/// attempts, so it is never retried (and an HA pool would lock every HSM).
pub fn is_pin_error(code: &str) -> bool {
    matches!(
        code,
        "CKR_PIN_INCORRECT" | "CKR_PIN_LOCKED" | "CKR_PIN_EXPIRED" | "CKR_PIN_INVALID"
    )
}

/// Warns of a refused PIN at once, whatever the verbosity.
pub fn warn_pin_refused(error: &Error) {
    crate::cli::warn(&format!(
        "{error}: not logging in again (each try uses up one of the token's PIN attempts)"
    ));
}

/// How often a lost session is reopened before giving up, and how long to
/// wait before each attempt: a few tries over about a second, enough for a
/// fail-over, not enough to hammer a broken HSM.
const RETRY_DELAYS_MS: [u64; 3] = [50, 200, 800];

/// Return codes after which the session (not the device) is gone: reopen
/// it, log in again, find the key again, retry. Anything else (a device
/// error above all) ends the run at once.
pub fn is_transient(code: &str) -> bool {
    matches!(
        code,
        "CKR_SESSION_HANDLE_INVALID"
            | "CKR_SESSION_CLOSED"
            | "CKR_USER_NOT_LOGGED_IN"
            | "CKR_TOKEN_NOT_PRESENT"
            | "CKR_DEVICE_REMOVED"
            | "CKR_OBJECT_HANDLE_INVALID"
            | "CKR_KEY_HANDLE_INVALID"
    )
}

/// Return codes after which a token of a pool is given up on for the rest
/// of the run (its work moves to the others): the device failed, went away,
/// or its sessions stayed lost through the reopen retries. Anything else
/// (a refused mechanism, a bad argument) would fail on every token alike.
pub fn is_member_failure(code: &str) -> bool {
    is_transient(code)
        || matches!(
            code,
            "CKR_DEVICE_ERROR"
                | "CKR_DEVICE_MEMORY"
                | "CKR_GENERAL_ERROR"
                | "CKR_FUNCTION_FAILED"
                | "CKR_TOKEN_NOT_RECOGNIZED"
                | "CKR_CRYPTOKI_NOT_INITIALIZED"
        )
}

impl Reopen {
    /// The refusal when a slot holds another token than when the run
    /// began (see [`token_changed`]).
    fn tokens_changed(&self) -> Result<Option<String>> {
        for (index, (slot, _)) in self.slots.iter().enumerate() {
            let expected = self.tokens.get(index).and_then(Option::as_ref);
            let name = format!("slot {}", slot.id());
            if let Some(changed) = token_changed(&self.context, *slot, expected, &name)? {
                return Ok(Some(changed));
            }
        }
        Ok(None)
    }

    /// Opens and logs in one session on each token, once each slot is seen
    /// to hold the token the run began with (the PIN goes nowhere else).
    fn open_sessions(&self) -> Result<Vec<Session>> {
        if let Some(changed) = self.tokens_changed()? {
            return Err(Error::Failed(changed));
        }
        let mut sessions = Vec::with_capacity(self.slots.len());
        for (slot, pin) in &self.slots {
            let session = self.context.open_ro_session(*slot).map_err(|e| {
                Error::pkcs11(format!("opening a session on slot {}", slot.id()), e)
            })?;
            if let Some(pin) = pin {
                match session.login_with_raw(cryptoki::session::UserType::User, pin.as_auth()) {
                    Ok(())
                    | Err(cryptoki::error::Error::Pkcs11(
                        cryptoki::error::RvError::UserAlreadyLoggedIn,
                        _,
                    )) => {}
                    Err(e) => {
                        return Err(Error::pkcs11(
                            format!("logging in again to slot {}", slot.id()),
                            e,
                        ))
                    }
                }
            }
            sessions.push(session);
        }
        Ok(sessions)
    }
}

impl Pkcs11KeyStore {
    /// Opens every session again, logs in and finds every key again.
    fn reopen_sessions(&mut self) -> Result<()> {
        let Some(reopen) = &self.reopen else {
            return Err(Error::Failed("the sessions cannot be reopened".into()));
        };
        let sessions = reopen.open_sessions()?;
        for (key, selector) in self.keys.iter_mut().zip(&reopen.selectors) {
            let pair = crate::pkcs11::keypair::find_key_pair(&sessions[key.session], selector)?;
            key.private = pair.private.ok_or_else(|| {
                Error::NotFound(format!("{}: the private key is gone", key.description))
            })?;
        }
        self.sessions = sessions;
        crate::cli::verbose(
            2,
            &format!(
                "reopened {} session(s) and found {} key(s) again",
                self.sessions.len(),
                self.keys.len()
            ),
        );
        Ok(())
    }
}

fn digest(algorithm: Algorithm, data: &[u8]) -> Vec<u8> {
    match algorithm {
        Algorithm::RsaSha1 | Algorithm::Nsec3RsaSha1 => sha1::Sha1::digest(data).to_vec(),
        Algorithm::RsaSha256 | Algorithm::EcdsaP256Sha256 => sha2::Sha256::digest(data).to_vec(),
        Algorithm::RsaSha512 => sha2::Sha512::digest(data).to_vec(),
        Algorithm::EcdsaP384Sha384 => sha2::Sha384::digest(data).to_vec(),
        Algorithm::Ed25519 | Algorithm::Ed448 => data.to_vec(),
    }
}

impl KeyStore for Pkcs11KeyStore {
    /// Signs; a lost session is reopened and the signature asked for again,
    /// a bounded number of times.
    fn sign(&mut self, key: usize, data: &[u8]) -> Result<Vec<u8>> {
        let mut attempt = 0;
        loop {
            let error = match self.sign_once(key, data) {
                Ok(signature) => return Ok(signature),
                Err(error) => error,
            };
            let transient = error.pkcs11_code().is_some_and(is_transient);
            if !transient || self.reopen.is_none() {
                return Err(error);
            }
            let Some(delay) = RETRY_DELAYS_MS.get(attempt) else {
                let gave_up = format!(
                    "gave up after {} attempts to reopen the session",
                    RETRY_DELAYS_MS.len()
                );
                // The code stays readable: a pool moves to another token on it.
                return Err(match error {
                    Error::Pkcs11 {
                        context,
                        function,
                        code,
                    } => Error::Pkcs11 {
                        context: if context.is_empty() {
                            gave_up
                        } else {
                            format!("{gave_up}: {context}")
                        },
                        function,
                        code,
                    },
                    other => Error::Failed(format!("{gave_up}: {other}")),
                });
            };
            attempt += 1;
            let quiet = self.reopen.as_ref().is_some_and(|r| r.quiet);
            let tell = |message: &str| {
                if quiet {
                    crate::cli::verbose(2, message);
                } else {
                    crate::cli::warn(message);
                }
            };
            tell(&format!(
                "{error}; reopening the session and signing again ({attempt}/{})",
                RETRY_DELAYS_MS.len()
            ));
            crate::cli::verbose(
                2,
                &format!("backing off {delay} ms before reopening the session"),
            );
            std::thread::sleep(std::time::Duration::from_millis(*delay));
            // A failed reopen (the token is still away) counts as an
            // attempt; a refused PIN or another token in the slot ends
            // the retries at once (the signing error stays, so that a pool
            // leaves this token).
            if let Ok(Some(changed)) = self
                .reopen
                .as_ref()
                .map_or(Ok(None), Reopen::tokens_changed)
            {
                return Err(match error {
                    Error::Pkcs11 {
                        context,
                        function,
                        code,
                    } => Error::Pkcs11 {
                        context: format!("{changed}; {context}"),
                        function,
                        code,
                    },
                    other => Error::Failed(format!("{changed}; {other}")),
                });
            }
            match self.reopen_sessions() {
                Ok(()) => {}
                Err(refused) if refused.pkcs11_code().is_some_and(is_pin_error) => {
                    warn_pin_refused(&refused);
                    return Err(refused);
                }
                Err(reopen_error) => tell(&format!("reopening the session failed: {reopen_error}")),
            }
        }
    }

    fn fresh_session(&mut self) -> Result<()> {
        if self.reopen.is_some() {
            crate::cli::verbose(2, "opening a fresh session to sign again");
            self.reopen_sessions()
        } else {
            Ok(())
        }
    }

    /// Another store on the same tokens and keys, with sessions of its own
    /// (opened, logged in and its keys found as after a lost session).
    fn open_another(&self) -> Option<Result<Box<dyn KeyStore + Send>>> {
        let reopen = self.reopen.clone()?;
        // Object handles are the application's, valid in all its sessions
        // (PKCS#11 2.40 §2.4): the keys need not be looked for again, which
        // on a network HSM would cost a dozen round trips per session. A
        // token that thinks otherwise answers CKR_KEY_HANDLE_INVALID, and
        // `sign` then reopens and finds them.
        let sessions = match reopen.open_sessions() {
            Ok(sessions) => sessions,
            Err(error) => return Some(Err(error)),
        };
        Some(Ok(Box::new(Pkcs11KeyStore {
            sessions,
            keys: self.keys.clone(),
            reopen: Some(reopen),
        })))
    }

    /// The smallest `ulMaxSessionCount` of the store's tokens (none when
    /// every token says "effectively infinite" or does not say).
    fn session_limit(&self) -> Option<usize> {
        let reopen = self.reopen.as_ref()?;
        reopen
            .slots
            .iter()
            .filter_map(|(slot, _)| {
                match reopen
                    .context
                    .get_token_info(*slot)
                    .ok()?
                    .max_session_count()
                {
                    cryptoki::slot::Limit::Max(max) if max > 0 => Some(max as usize),
                    _ => None,
                }
            })
            .min()
    }
}

impl Pkcs11KeyStore {
    fn sign_once(&mut self, key: usize, data: &[u8]) -> Result<Vec<u8>> {
        // A key of the run without a private key here (an offline KSK of
        // --skr) is a refusal the caller can act on, never a panic.
        let Some(token_key) = self.keys.get_mut(key) else {
            return Err(Error::Failed(format!(
                "key {key} of this run has no private key in the token"
            )));
        };
        let session = &self.sessions[token_key.session];
        let algorithm = token_key.algorithm;
        let context = || format!("signing with {}", token_key.description);
        let result = match algorithm.key_kind() {
            KeyKind::Ec(curve) if curve.is_edwards() => session.sign(
                &Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure)),
                token_key.private,
                data,
            ),
            KeyKind::Ec(_) => session.sign(
                &Mechanism::Ecdsa,
                token_key.private,
                &digest(algorithm, data),
            ),
            KeyKind::Rsa if !token_key.rsa_hash_in_token => {
                let prefix = match algorithm {
                    Algorithm::RsaSha512 => DIGEST_INFO_SHA512,
                    Algorithm::RsaSha256 => DIGEST_INFO_SHA256,
                    _ => DIGEST_INFO_SHA1,
                };
                let mut info = prefix.to_vec();
                info.extend_from_slice(&digest(algorithm, data));
                match session.sign(&Mechanism::RsaPkcs, token_key.private, &info) {
                    Err(cryptoki::error::Error::Pkcs11(
                        cryptoki::error::RvError::MechanismInvalid,
                        _,
                    )) => {
                        token_key.rsa_hash_in_token = true;
                        crate::cli::verbose(
                            2,
                            &format!(
                                "the token refuses raw RSA for {}: hashing in the token",
                                token_key.description
                            ),
                        );
                        return self.sign_once(key, data);
                    }
                    other => other,
                }
            }
            KeyKind::Rsa => {
                let mechanism = match algorithm {
                    Algorithm::RsaSha512 => Mechanism::Sha512RsaPkcs,
                    Algorithm::RsaSha256 => Mechanism::Sha256RsaPkcs,
                    _ => Mechanism::Sha1RsaPkcs,
                };
                session.sign(&mechanism, token_key.private, data)
            }
        };
        result.map_err(|e| Error::pkcs11(context(), e))
    }
}
