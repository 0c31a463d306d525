//! A pool of tokens holding the same keys (an HA pair of HSMs, or a key
//! restored into a second token with pkcs11-restore): the signing sessions
//! are spread over the tokens, and a token that fails for good mid-run
//! (device error, removed, sessions lost through the reopen retries) is
//! left for the rest of the run, its sessions moving to the others. Each
//! token was checked up front to hold every key under the same label and
//! `CKA_ID` with the same public key; a session that moves finds its keys
//! again on the new token and checks them again, so a token holding
//! another key never signs. Every signature is verified in software
//! against the key's public key whichever token made it.
//!
//! Without a pool (one token, or one set of tokens each holding other
//! keys) the pool has one member and behaves as the plain store.

use crate::algorithm::Algorithm;
use crate::error::{Error, Result};
use crate::keys::PublicKey;
use crate::pin::Pin;
use crate::pkcs11::keypair::find_key_pair;
use crate::pkcs11::object::ObjectSelector;
use crate::pkcs11::signer::{is_member_failure, Pkcs11KeyStore, Reopen, TokenKey};
use crate::sign::KeyStore;
use cryptoki::object::ObjectHandle;
use cryptoki::session::Session;
use cryptoki::slot::Slot;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// One member of a pool: the token(s) a session set of it opens (one per
/// token position; a pool's members have one each), with their PINs.
pub struct Member {
    pub slots: Vec<(Slot, Option<Pin>)>,
    /// For messages: `slot 7 (token 'a', serial '…')`.
    pub name: String,
    /// How many sessions it allows (`usize::MAX`: no limit said).
    pub session_limit: usize,
}

/// One key as every member must hold it.
pub struct PoolKey {
    /// How the key is found (from its URI or key file label).
    pub selector: ObjectSelector,
    /// Which of a member's sessions holds it.
    pub session: usize,
    /// Label, `CKA_ID` and public key found on the first member.
    pub label: Vec<u8>,
    pub id: Vec<u8>,
    pub public_key: PublicKey,
    pub algorithm: Algorithm,
    /// For messages.
    pub description: String,
}

/// The members and their health, shared by every session of the run.
pub struct TokenPool {
    context: cryptoki::context::Pkcs11,
    members: Vec<Member>,
    keys: Vec<PoolKey>,
    failed: Vec<AtomicBool>,
    signatures: Vec<AtomicU64>,
    /// Open sessions per member.
    sessions: Mutex<Vec<usize>>,
}

/// What a member did in the run, for the report.
pub struct MemberReport {
    pub name: String,
    pub signatures: u64,
    pub failed: bool,
}

impl TokenPool {
    /// A pool of `members` (checked by the caller to hold `keys`).
    pub fn new(
        context: cryptoki::context::Pkcs11,
        members: Vec<Member>,
        keys: Vec<PoolKey>,
    ) -> Arc<TokenPool> {
        let count = members.len();
        Arc::new(TokenPool {
            context,
            keys,
            failed: (0..count).map(|_| AtomicBool::new(false)).collect(),
            signatures: (0..count).map(|_| AtomicU64::new(0)).collect(),
            sessions: Mutex::new(vec![0; count]),
            members,
        })
    }

    /// True for two or more members: failing over is possible.
    pub fn is_pool(&self) -> bool {
        self.members.len() > 1
    }

    /// Each member's signatures and whether it failed.
    pub fn report(&self) -> Vec<MemberReport> {
        self.members
            .iter()
            .enumerate()
            .map(|(index, member)| MemberReport {
                name: member.name.clone(),
                signatures: self.signatures[index].load(Ordering::Relaxed),
                failed: self.failed[index].load(Ordering::Relaxed),
            })
            .collect()
    }

    fn loads(&self) -> std::sync::MutexGuard<'_, Vec<usize>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The healthy member with the fewest sessions that has room for one
    /// more (or, with `anyway`, the fewest sessions regardless of room).
    pub fn least_loaded(&self, anyway: bool) -> Option<usize> {
        let loads = self.loads();
        (0..self.members.len())
            .filter(|&m| !self.failed[m].load(Ordering::Relaxed))
            .filter(|&m| anyway || loads[m] < self.members[m].session_limit)
            .min_by_key(|&m| loads[m])
    }

    /// Counts a session about to be opened on `member` (so that sessions
    /// opened in parallel spread); [`TokenPool::release`] uncounts it.
    pub fn reserve(&self, member: usize) {
        self.loads()[member] += 1;
    }

    /// Uncounts a [`TokenPool::reserve`].
    pub fn release(&self, member: usize) {
        let mut loads = self.loads();
        loads[member] = loads[member].saturating_sub(1);
    }

    /// Wraps sessions already opened, logged in and checked on `member`
    /// (`private`: each key's private key handle there).
    pub fn adopt(
        self: &Arc<Self>,
        member: usize,
        sessions: Vec<Session>,
        private: Vec<ObjectHandle>,
    ) -> PoolStore {
        let keys = self
            .keys
            .iter()
            .zip(private)
            .map(|(key, handle)| {
                TokenKey::new(key.session, handle, key.algorithm, key.description.clone())
            })
            .collect();
        let slots = &self.members[member].slots;
        let store = Pkcs11KeyStore {
            sessions,
            keys,
            reopen: Some(Reopen {
                context: self.context.clone(),
                slots: slots.clone(),
                selectors: self.keys.iter().map(|k| k.selector.clone()).collect(),
                quiet: self.is_pool(),
            }),
        };
        self.loads()[member] += 1;
        if self.is_pool() {
            crate::cli::verbose(
                2,
                &format!(
                    "a signing session on {} of the pool",
                    self.members[member].name
                ),
            );
        }
        PoolStore {
            pool: Arc::clone(self),
            member,
            store,
        }
    }

    /// Opens a session set on `member`, logs in, finds every key and
    /// checks it is the key the run signs with.
    pub fn open(self: &Arc<Self>, member: usize) -> Result<PoolStore> {
        let name = &self.members[member].name;
        let mut sessions = Vec::new();
        for (slot, pin) in &self.members[member].slots {
            let session = self
                .context
                .open_ro_session(*slot)
                .map_err(|e| Error::pkcs11(format!("opening a session on {name}"), e))?;
            if let Some(pin) = pin {
                match session.login_with_raw(cryptoki::session::UserType::User, pin.as_auth()) {
                    Ok(())
                    | Err(cryptoki::error::Error::Pkcs11(
                        cryptoki::error::RvError::UserAlreadyLoggedIn,
                        _,
                    )) => {}
                    Err(e) => return Err(Error::pkcs11(format!("logging in to {name}"), e)),
                }
            }
            sessions.push(session);
        }
        let mut handles = Vec::with_capacity(self.keys.len());
        for key in &self.keys {
            let pair = find_key_pair(&sessions[key.session], &key.selector)?;
            if pair.public_key != key.public_key || pair.label != key.label || pair.id != key.id {
                return Err(Error::Failed(format!(
                    "{name} holds another key than {} under its label and ID: refused",
                    key.description
                )));
            }
            handles.push(pair.private.ok_or_else(|| {
                Error::NotFound(format!(
                    "{}: {name} shows no private key for it",
                    key.description
                ))
            })?);
        }
        Ok(self.adopt(member, sessions, handles))
    }

    /// Opens one more signing session on the least-loaded healthy member
    /// that has room; `None` when none has (for `-n auto`, which adds
    /// sessions while the rate rises).
    pub fn open_another(self: &Arc<Self>) -> Option<Result<PoolStore>> {
        let member = self.least_loaded(false)?;
        Some(self.open(member))
    }

    /// Marks `member` failed for the rest of the run; the first session
    /// to see it warns (one line for the token, not one per session).
    fn fail(&self, member: usize, cause: &Error) {
        if !self.failed[member].swap(true, Ordering::SeqCst) {
            crate::cli::warn(&format!(
                "{} of the pool failed ({cause}); its work goes on the other tokens",
                self.members[member].name
            ));
        }
    }
}

/// One signing session (set) on a member of a pool; moves to another
/// member when its own fails.
pub struct PoolStore {
    pool: Arc<TokenPool>,
    member: usize,
    store: Pkcs11KeyStore,
}

impl Drop for PoolStore {
    fn drop(&mut self) {
        let mut loads = self.pool.loads();
        loads[self.member] = loads[self.member].saturating_sub(1);
    }
}

/// True if the error means the member is gone for this run.
fn fails_member(error: &Error) -> bool {
    error.pkcs11_code().is_some_and(is_member_failure)
}

impl PoolStore {
    /// The pool this session belongs to.
    pub fn pool(&self) -> &Arc<TokenPool> {
        &self.pool
    }

    /// One more session of the pool, on its least-loaded healthy member.
    pub fn open_another(&self) -> Option<Result<PoolStore>> {
        self.pool.open_another()
    }

    /// Leaves this member (failed: `cause`, or marked failed by another
    /// session) for the healthy member with the fewest sessions; a member
    /// that cannot be opened is marked failed too.
    fn move_on(&mut self, cause: Option<&Error>) -> Result<()> {
        if let Some(cause) = cause {
            self.pool.fail(self.member, cause);
        }
        let mut last = cause.map(ToString::to_string);
        loop {
            let next = self
                .pool
                .least_loaded(false)
                .or_else(|| self.pool.least_loaded(true));
            let Some(next) = next else {
                return Err(Error::Failed(format!(
                    "every token of the pool failed{}",
                    last.map(|l| format!(" (the last: {l})"))
                        .unwrap_or_default()
                )));
            };
            match self.pool.open(next) {
                Ok(store) => {
                    crate::cli::verbose(
                        2,
                        &format!("the session moved to {}", self.pool.members[next].name),
                    );
                    *self = store;
                    return Ok(());
                }
                Err(error) => {
                    self.pool.fail(next, &error);
                    last = Some(format!("{}: {error}", self.pool.members[next].name));
                }
            }
        }
    }

    fn member_failed(&self) -> bool {
        self.pool.failed[self.member].load(Ordering::Relaxed)
    }
}

impl KeyStore for PoolStore {
    /// Signs on the current member; when it fails for good, signs the same
    /// data again on another.
    fn sign(&mut self, key: usize, data: &[u8]) -> Result<Vec<u8>> {
        loop {
            if self.pool.is_pool() && self.member_failed() {
                self.move_on(None)?;
            }
            match self.store.sign(key, data) {
                Ok(signature) => {
                    self.pool.signatures[self.member].fetch_add(1, Ordering::Relaxed);
                    return Ok(signature);
                }
                Err(error) if self.pool.is_pool() && fails_member(&error) => {
                    self.move_on(Some(&error))?;
                }
                Err(error) => return Err(error),
            }
        }
    }

    fn fresh_session(&mut self) -> Result<()> {
        match self.store.fresh_session() {
            Err(error) if self.pool.is_pool() && fails_member(&error) => self.move_on(Some(&error)),
            other => other,
        }
    }

    /// One more session for `-n auto`, on the least-loaded healthy member.
    fn open_another(&self) -> Option<Result<Box<dyn KeyStore + Send>>> {
        let opened = PoolStore::open_another(self)?;
        Some(opened.map(|store| Box::new(store) as Box<dyn KeyStore + Send>))
    }

    /// The members' limits summed (none when a member says no limit).
    fn session_limit(&self) -> Option<usize> {
        self.pool
            .members
            .iter()
            .map(|m| (m.session_limit != usize::MAX).then_some(m.session_limit))
            .sum()
    }
}
