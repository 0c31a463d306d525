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
use crate::pkcs11::signer::{
    is_member_failure, is_pin_error, token_changed, warn_pin_refused, Pkcs11KeyStore, Reopen,
    TokenIdentity, TokenKey,
};
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
    /// The token each of `slots` held when the run began: a slot holding
    /// another one later is not logged in to.
    pub tokens: Vec<Option<TokenIdentity>>,
}

/// How long a session that must move waits, each time, for a token of the
/// pool to have a free session (CKR_SESSION_COUNT) before the run gives up.
const ROOM_WAITS_MS: [u64; 3] = [50, 200, 800];

/// The healthy member (not `failed`, not in `skip`) with the fewest
/// sessions (`loads`) that has room for one more (`limits`).
fn pick(loads: &[usize], limits: &[usize], failed: &[bool], skip: &[usize]) -> Option<usize> {
    (0..loads.len())
        .filter(|&m| !failed[m] && !skip.contains(&m) && loads[m] < limits[m])
        .min_by_key(|&m| loads[m])
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

    /// Picks the least-loaded healthy member with room (not in `skip`) and
    /// counts a session about to be opened there, under one lock, so that
    /// sessions moving or opening at once neither pile onto one member nor
    /// pass its session limit; [`TokenPool::release`] uncounts it.
    pub fn claim(&self, skip: &[usize]) -> Option<usize> {
        let mut loads = self.loads();
        let limits: Vec<usize> = self.members.iter().map(|m| m.session_limit).collect();
        let failed: Vec<bool> = self
            .failed
            .iter()
            .map(|f| f.load(Ordering::Relaxed))
            .collect();
        let member = pick(&loads, &limits, &failed, skip)?;
        loads[member] += 1;
        Some(member)
    }

    /// True if some member has not failed.
    fn any_healthy(&self) -> bool {
        self.failed.iter().any(|f| !f.load(Ordering::Relaxed))
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
                tokens: self.members[member].tokens.clone(),
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
            signed_on: Vec::new(),
        }
    }

    /// Opens a session set on `member`, logs in, finds every key and
    /// checks it is the key the run signs with.
    pub fn open(self: &Arc<Self>, member: usize) -> Result<PoolStore> {
        let name = &self.members[member].name;
        let mut sessions = Vec::new();
        let slots = &self.members[member].slots;
        for (index, (slot, pin)) in slots.iter().enumerate() {
            let expected = self.members[member]
                .tokens
                .get(index)
                .and_then(Option::as_ref);
            if let Some(changed) = token_changed(&self.context, *slot, expected, name)? {
                return Err(Error::Failed(changed));
            }
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
        // Claimed first, so that sessions the ramp opens at once spread.
        let member = self.claim(&[])?;
        let opened = self.open(member);
        self.release(member);
        Some(opened)
    }

    /// Marks `member` failed for the rest of the run; the first session
    /// to see it warns (one line for the token, not one per session).
    fn fail(&self, member: usize, cause: &dyn std::fmt::Display) {
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
    /// Every member this session has signed on: a signature found bad
    /// may have been made before a move (verification runs a block
    /// behind), so only a session that signed on one member alone knows
    /// which token signed wrong.
    signed_on: Vec<usize>,
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
    /// session) for the healthy member with the fewest sessions that has
    /// room; a member that cannot be opened is marked failed too, except
    /// for want of a free session (CKR_SESSION_COUNT: it is healthy, only
    /// busy), which is waited for briefly before the run gives up. A
    /// refused PIN ends the run at once: each try would use up one of a
    /// token's PIN attempts.
    fn move_on(&mut self, cause: Option<&dyn std::fmt::Display>) -> Result<()> {
        if let Some(cause) = cause {
            self.pool.fail(self.member, cause);
        }
        let mut last = cause.map(ToString::to_string);
        let mut busy: Vec<usize> = Vec::new();
        let mut waits = ROOM_WAITS_MS.iter();
        loop {
            let Some(next) = self.pool.claim(&busy) else {
                if !self.pool.any_healthy() {
                    return Err(Error::Failed(format!(
                        "every token of the pool failed{}",
                        last.map(|l| format!(" (the last: {l})"))
                            .unwrap_or_default()
                    )));
                }
                if let Some(delay) = waits.next() {
                    std::thread::sleep(std::time::Duration::from_millis(*delay));
                    busy.clear();
                    continue;
                }
                return Err(Error::Failed(format!(
                    "no healthy token of the pool has a free session for the work of {} \
                     (session limits, or CKR_SESSION_COUNT): give a smaller -n",
                    self.pool.members[self.member].name
                )));
            };
            let opened = self.pool.open(next);
            self.pool.release(next);
            match opened {
                Ok(store) => {
                    crate::cli::verbose(
                        2,
                        &format!("the session moved to {}", self.pool.members[next].name),
                    );
                    let signed_on = std::mem::take(&mut self.signed_on);
                    *self = store;
                    self.signed_on = signed_on;
                    return Ok(());
                }
                Err(error) if error.pkcs11_code() == Some("CKR_SESSION_COUNT") => {
                    busy.push(next);
                }
                Err(error) if error.pkcs11_code().is_some_and(is_pin_error) => {
                    warn_pin_refused(&error);
                    return Err(error);
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
                    if !self.signed_on.contains(&self.member) {
                        self.signed_on.push(self.member);
                    }
                    return Ok(signature);
                }
                Err(error) if self.pool.is_pool() && fails_member(&error) => {
                    self.move_on(Some(&error))?;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// After a signature that did not verify: in a pool, the token that
    /// made it is left (it signs wrong: a fault, or another key than it
    /// showed) and the signature is made again on another. A session that
    /// signed on a member already failed blames that one; one that signed
    /// on several healthy members cannot tell, and opens a fresh session
    /// as without a pool (a second bad signature ends the run).
    fn fresh_session(&mut self) -> Result<()> {
        if self.pool.is_pool() {
            if self.member_failed() {
                return self.move_on(None);
            }
            if self.signed_on == [self.member] {
                return self.move_on(Some(&"a signature that did not verify"));
            }
        }
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

#[cfg(test)]
mod tests {
    use super::pick;

    #[test]
    fn pick_takes_the_least_loaded_healthy_member_with_room() {
        assert_eq!(pick(&[2, 1], &[4, 4], &[false, false], &[]), Some(1));
        // Full members are never picked, however lightly loaded.
        assert_eq!(pick(&[2, 1], &[4, 1], &[false, false], &[]), Some(0));
        assert_eq!(pick(&[4, 1], &[4, 1], &[false, false], &[]), None);
        // Failed and skipped (busy: CKR_SESSION_COUNT) members neither.
        assert_eq!(pick(&[0, 3], &[9, 9], &[true, false], &[]), Some(1));
        assert_eq!(pick(&[0, 3], &[9, 9], &[false, false], &[0]), Some(1));
        assert_eq!(pick(&[0, 3], &[9, 9], &[true, false], &[1]), None);
    }
}
