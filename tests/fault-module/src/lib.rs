//! A PKCS#11 module for tests: it loads a real module (SoftHSM2 by
//! default), forwards every call to it, and injects faults chosen by
//! environment variables:
//!
//! | variable | meaning |
//! |---|---|
//! | `P11FAULT_MODULE` | the real module (default `/usr/lib/softhsm/libsofthsm2.so`) |
//! | `P11FAULT_FUNCTION` | the function to fault, e.g. `C_Sign` |
//! | `P11FAULT_ACTION` | a CKR name or number to return, or `flip` (flip a signature bit) |
//! | `P11FAULT_NTH` | fault the Nth call of the function (1-based) |
//! | `P11FAULT_EVERY` | fault every Kth call |
//! | `P11FAULT_AFTER_MS` | fault every call after this many milliseconds |
//! | `P11FAULT_FROM` | fault every call from the Nth on (1-based): a device that died mid-run |
//! | `P11FAULT_TOKEN` | fault (and delay) only calls on sessions of the token with this label; the counts above count only those calls |
//! | `P11FAULT_SLOT` | the same, for the slot with this ID |
//! | `P11FAULT_LATENCY_US` | sleep this long in every wrapped call (a network HSM) |
//! | `P11FAULT_REFUSE_ATTRIBUTE` | `C_GenerateKeyPair` refuses templates holding this attribute (`CKA_COPYABLE`, … or 0x hex), as CloudHSM and YubiHSM refuse some |
//! | `P11FAULT_REFUSE_WITH` | the CKR of that refusal (default `CKR_ATTRIBUTE_TYPE_INVALID`) |
//! | `P11FAULT_MAX_SESSIONS` | `C_GetTokenInfo` reports this `ulMaxSessionCount` (a token allowing few sessions) |
//!
//! `C_Sign` calls that only ask for the signature length do not count.
//! Targeting a token tracks each session's slot from `C_OpenSession`, so
//! one token of a pool can fail while the others go on. A
//! faulted `C_UnwrapKey` is forwarded first and then fails: a token that
//! makes the object and reports an error, as SoftHSM2 2.6 does when it
//! refuses an unwrap template (the object stays, its handle unreported).
//! All of this is test scaffolding: the one place of the workspace with
//! `unsafe` code, kept to pointer forwarding.

use cryptoki_sys::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Action {
    Return(CK_RV),
    Flip,
}

struct Config {
    function: Option<String>,
    action: Action,
    nth: u64,
    every: u64,
    from: u64,
    after: Option<Duration>,
    /// Only calls on this token's sessions (by label) are faulted.
    token: Option<String>,
    /// Only calls on this slot's sessions are faulted.
    slot: Option<CK_SLOT_ID>,
    latency: Duration,
    /// `C_GenerateKeyPair` refuses templates with this attribute.
    refuse_attribute: Option<(CK_ATTRIBUTE_TYPE, CK_RV)>,
    /// `C_GetTokenInfo` reports this session limit.
    max_sessions: Option<CK_ULONG>,
}

struct State {
    real: CK_FUNCTION_LIST,
    ours: CK_FUNCTION_LIST,
    config: Config,
    started: Instant,
    calls: AtomicU64,
    /// Whether each slot is the targeted one (its label looked up once).
    targeted_slots: Mutex<HashMap<CK_SLOT_ID, bool>>,
    /// Each open session's slot, whether targeted.
    targeted_sessions: Mutex<HashMap<CK_SESSION_HANDLE, bool>>,
    _library: libloading::Library,
}

// SAFETY: the function lists are tables of function pointers, written once
// while the state is made and only read afterwards.
unsafe impl Sync for State {}
unsafe impl Send for State {}

static STATE: OnceLock<Result<State, CK_RV>> = OnceLock::new();

const CKR_NAMES: &[(&str, CK_RV)] = &[
    ("CKR_SESSION_HANDLE_INVALID", CKR_SESSION_HANDLE_INVALID),
    ("CKR_SESSION_CLOSED", CKR_SESSION_CLOSED),
    ("CKR_DEVICE_ERROR", CKR_DEVICE_ERROR),
    ("CKR_TOKEN_NOT_PRESENT", CKR_TOKEN_NOT_PRESENT),
    ("CKR_DEVICE_REMOVED", CKR_DEVICE_REMOVED),
    ("CKR_USER_NOT_LOGGED_IN", CKR_USER_NOT_LOGGED_IN),
    ("CKR_GENERAL_ERROR", CKR_GENERAL_ERROR),
    ("CKR_FUNCTION_FAILED", CKR_FUNCTION_FAILED),
    ("CKR_PIN_INCORRECT", CKR_PIN_INCORRECT),
    ("CKR_DEVICE_MEMORY", CKR_DEVICE_MEMORY),
    ("CKR_ATTRIBUTE_TYPE_INVALID", CKR_ATTRIBUTE_TYPE_INVALID),
    ("CKR_ATTRIBUTE_VALUE_INVALID", CKR_ATTRIBUTE_VALUE_INVALID),
];

const CKA_NAMES: &[(&str, CK_ATTRIBUTE_TYPE)] = &[
    ("CKA_COPYABLE", CKA_COPYABLE),
    ("CKA_MODIFIABLE", CKA_MODIFIABLE),
    ("CKA_DECRYPT", CKA_DECRYPT),
    ("CKA_UNWRAP", CKA_UNWRAP),
    ("CKA_SIGN_RECOVER", CKA_SIGN_RECOVER),
    ("CKA_DERIVE", CKA_DERIVE),
    ("CKA_WRAP_WITH_TRUSTED", CKA_WRAP_WITH_TRUSTED),
    ("CKA_SENSITIVE", CKA_SENSITIVE),
];

fn rv_named(text: &str) -> Option<CK_RV> {
    CKR_NAMES
        .iter()
        .find(|(name, _)| *name == text)
        .map(|(_, rv)| *rv)
        .or_else(|| CK_RV::from_str_radix(text.strip_prefix("0x")?, 16).ok())
}

fn config() -> Config {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let number = |name: &str| var(name).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let action = match var("P11FAULT_ACTION").as_deref() {
        Some("flip") => Action::Flip,
        Some(text) => Action::Return(rv_named(text).unwrap_or(CKR_GENERAL_ERROR)),
        None => Action::Return(CKR_DEVICE_ERROR),
    };
    Config {
        function: var("P11FAULT_FUNCTION"),
        action,
        nth: number("P11FAULT_NTH"),
        every: number("P11FAULT_EVERY"),
        from: number("P11FAULT_FROM"),
        token: var("P11FAULT_TOKEN"),
        slot: var("P11FAULT_SLOT").and_then(|v| v.parse().ok()),
        after: var("P11FAULT_AFTER_MS")
            .and_then(|v| v.parse().ok())
            .map(Duration::from_millis),
        latency: Duration::from_micros(number("P11FAULT_LATENCY_US")),
        refuse_attribute: var("P11FAULT_REFUSE_ATTRIBUTE").map(|name| {
            let attribute = CKA_NAMES
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, a)| *a)
                .or_else(|| CK_ATTRIBUTE_TYPE::from_str_radix(name.strip_prefix("0x")?, 16).ok())
                .unwrap_or(CK_ATTRIBUTE_TYPE::MAX);
            let rv = var("P11FAULT_REFUSE_WITH")
                .and_then(|text| rv_named(&text))
                .unwrap_or(CKR_ATTRIBUTE_TYPE_INVALID);
            (attribute, rv)
        }),
        max_sessions: var("P11FAULT_MAX_SESSIONS").and_then(|v| v.parse().ok()),
    }
}

fn load() -> Result<State, CK_RV> {
    let path = std::env::var("P11FAULT_MODULE")
        .unwrap_or_else(|_| "/usr/lib/softhsm/libsofthsm2.so".into());
    // SAFETY: loading a PKCS#11 module runs its initializers; the module
    // named here is the real one the test meant to wrap.
    let library = unsafe { libloading::Library::new(&path) }.map_err(|_| CKR_GENERAL_ERROR)?;
    // SAFETY: C_GetFunctionList has this signature in every PKCS#11 module.
    let get: libloading::Symbol<unsafe extern "C" fn(*mut *mut CK_FUNCTION_LIST) -> CK_RV> =
        unsafe { library.get(b"C_GetFunctionList\0") }.map_err(|_| CKR_GENERAL_ERROR)?;
    let mut list: *mut CK_FUNCTION_LIST = std::ptr::null_mut();
    // SAFETY: the module fills in a pointer to its static function list.
    let rv = unsafe { get(&mut list) };
    if rv != CKR_OK || list.is_null() {
        return Err(if rv == CKR_OK { CKR_GENERAL_ERROR } else { rv });
    }
    // SAFETY: the list is valid for the life of the loaded library, which
    // the state keeps; it is copied, not kept by reference.
    let real = unsafe { std::ptr::read(list) };
    let mut ours = real;
    ours.C_GetFunctionList = Some(C_GetFunctionList);
    ours.C_OpenSession = Some(open_session);
    ours.C_Login = Some(login);
    ours.C_FindObjectsInit = Some(find_objects_init);
    ours.C_GetAttributeValue = Some(get_attribute_value);
    ours.C_SignInit = Some(sign_init);
    ours.C_Sign = Some(sign);
    ours.C_GenerateKeyPair = Some(generate_key_pair);
    ours.C_DestroyObject = Some(destroy_object);
    ours.C_CreateObject = Some(create_object);
    ours.C_UnwrapKey = Some(unwrap_key);
    ours.C_GetTokenInfo = Some(get_token_info);
    Ok(State {
        real,
        ours,
        config: config(),
        started: Instant::now(),
        calls: AtomicU64::new(0),
        targeted_slots: Mutex::new(HashMap::new()),
        targeted_sessions: Mutex::new(HashMap::new()),
        _library: library,
    })
}

fn state() -> &'static State {
    match STATE.get_or_init(load) {
        Ok(state) => state,
        // C_GetFunctionList failed already: no wrapper can be reached.
        Err(_) => std::process::abort(),
    }
}

/// Where a call goes: a session's slot, or a slot (`C_OpenSession`).
#[derive(Clone, Copy)]
enum Target {
    Session(CK_SESSION_HANDLE),
    Slot(CK_SLOT_ID),
}

/// True if the slot is the one `P11FAULT_TOKEN`/`P11FAULT_SLOT` names (or
/// neither is set).
fn slot_targeted(state: &State, slot: CK_SLOT_ID) -> bool {
    let config = &state.config;
    if config.slot.is_some_and(|wanted| wanted != slot) {
        return false;
    }
    let Some(label) = &config.token else {
        return true;
    };
    let mut slots = state
        .targeted_slots
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(known) = slots.get(&slot) {
        return *known;
    }
    let Some(get_token_info) = state.real.C_GetTokenInfo else {
        return false;
    };
    // SAFETY: CK_TOKEN_INFO is plain data; the real module fills it in.
    let mut info: CK_TOKEN_INFO = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to the struct above.
    let rv = unsafe { get_token_info(slot, &mut info) };
    let known = rv == CKR_OK
        && String::from_utf8_lossy(&info.label).trim_end_matches(' ') == label.as_str();
    slots.insert(slot, known);
    known
}

fn targeted(state: &State, target: Target) -> bool {
    let config = &state.config;
    if config.token.is_none() && config.slot.is_none() {
        return true;
    }
    match target {
        Target::Slot(slot) => slot_targeted(state, slot),
        Target::Session(session) => state
            .targeted_sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&session)
            .copied()
            .unwrap_or(false),
    }
}

/// Latency, then whether this call of `function` is to fail.
fn fault(function: &str, target: Target) -> Option<Action> {
    let state = state();
    let config = &state.config;
    if !targeted(state, target) {
        return None;
    }
    if !config.latency.is_zero() {
        std::thread::sleep(config.latency);
    }
    if config.function.as_deref() != Some(function) {
        return None;
    }
    let count = state.calls.fetch_add(1, Ordering::SeqCst) + 1;
    let hit = (config.nth > 0 && count == config.nth)
        || (config.every > 0 && count % config.every == 0)
        || (config.from > 0 && count >= config.from)
        || config
            .after
            .is_some_and(|after| state.started.elapsed() >= after);
    hit.then_some(config.action)
}

macro_rules! forward {
    ($wrapper:ident, $field:ident, $name:literal, $target:ident, ($($arg:ident: $ty:ty),*)) => {
        unsafe extern "C" fn $wrapper($($arg: $ty),*) -> CK_RV {
            if let Some(Action::Return(rv)) = fault($name, Target::Session($target)) {
                return rv;
            }
            match state().real.$field {
                // SAFETY: forwarding the caller's arguments unchanged to
                // the real module's implementation of the same function.
                Some(real) => unsafe { real($($arg),*) },
                None => CKR_FUNCTION_NOT_SUPPORTED,
            }
        }
    };
}

/// `C_OpenSession`: faulted by its slot; a session opened is remembered
/// with whether its slot is the targeted one.
unsafe extern "C" fn open_session(
    slot: CK_SLOT_ID,
    flags: CK_FLAGS,
    app: *mut std::os::raw::c_void,
    notify: CK_NOTIFY,
    session: *mut CK_SESSION_HANDLE,
) -> CK_RV {
    if let Some(Action::Return(rv)) = fault("C_OpenSession", Target::Slot(slot)) {
        return rv;
    }
    let Some(real) = state().real.C_OpenSession else {
        return CKR_FUNCTION_NOT_SUPPORTED;
    };
    // SAFETY: forwarding the caller's arguments unchanged.
    let rv = unsafe { real(slot, flags, app, notify, session) };
    if rv == CKR_OK && !session.is_null() {
        let state = state();
        let on_target = slot_targeted(state, slot);
        // SAFETY: the real module wrote the new handle there.
        let handle = unsafe { *session };
        state
            .targeted_sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(handle, on_target);
    }
    rv
}

forward!(login, C_Login, "C_Login", session, (session: CK_SESSION_HANDLE, user: CK_USER_TYPE, pin: *mut CK_UTF8CHAR, len: CK_ULONG));
forward!(find_objects_init, C_FindObjectsInit, "C_FindObjectsInit", session, (session: CK_SESSION_HANDLE, template: *mut CK_ATTRIBUTE, count: CK_ULONG));
forward!(get_attribute_value, C_GetAttributeValue, "C_GetAttributeValue", session, (session: CK_SESSION_HANDLE, object: CK_OBJECT_HANDLE, template: *mut CK_ATTRIBUTE, count: CK_ULONG));
forward!(sign_init, C_SignInit, "C_SignInit", session, (session: CK_SESSION_HANDLE, mechanism: *mut CK_MECHANISM, key: CK_OBJECT_HANDLE));
forward!(generate_key_pair_forward, C_GenerateKeyPair, "C_GenerateKeyPair", session, (session: CK_SESSION_HANDLE, mechanism: *mut CK_MECHANISM, public: *mut CK_ATTRIBUTE, public_count: CK_ULONG, private: *mut CK_ATTRIBUTE, private_count: CK_ULONG, public_key: *mut CK_OBJECT_HANDLE, private_key: *mut CK_OBJECT_HANDLE));
forward!(destroy_object, C_DestroyObject, "C_DestroyObject", session, (session: CK_SESSION_HANDLE, object: CK_OBJECT_HANDLE));
forward!(create_object, C_CreateObject, "C_CreateObject", session, (session: CK_SESSION_HANDLE, template: *mut CK_ATTRIBUTE, count: CK_ULONG, object: *mut CK_OBJECT_HANDLE));

/// `C_GetTokenInfo`: forwarded (without latency: the tools ask it once);
/// `P11FAULT_MAX_SESSIONS` then replaces the token's session limit.
unsafe extern "C" fn get_token_info(slot: CK_SLOT_ID, info: *mut CK_TOKEN_INFO) -> CK_RV {
    let Some(real) = state().real.C_GetTokenInfo else {
        return CKR_FUNCTION_NOT_SUPPORTED;
    };
    // SAFETY: forwarding the caller's arguments unchanged.
    let rv = unsafe { real(slot, info) };
    if let (CKR_OK, Some(max)) = (rv, state().config.max_sessions) {
        if !info.is_null() {
            // SAFETY: the real module just filled in the caller's structure.
            unsafe { (*info).ulMaxSessionCount = max };
        }
    }
    rv
}

/// `C_UnwrapKey`: forwarded; a faulted call then returns the fault, so that
/// the object the real module made is left behind unreported.
#[allow(clippy::too_many_arguments)] // PKCS#11's signature.
unsafe extern "C" fn unwrap_key(
    session: CK_SESSION_HANDLE,
    mechanism: *mut CK_MECHANISM,
    unwrapping_key: CK_OBJECT_HANDLE,
    wrapped: *mut CK_BYTE,
    wrapped_len: CK_ULONG,
    template: *mut CK_ATTRIBUTE,
    count: CK_ULONG,
    key: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    let Some(real) = state().real.C_UnwrapKey else {
        return CKR_FUNCTION_NOT_SUPPORTED;
    };
    // SAFETY: forwarding the caller's arguments unchanged.
    let rv = unsafe {
        real(
            session,
            mechanism,
            unwrapping_key,
            wrapped,
            wrapped_len,
            template,
            count,
            key,
        )
    };
    match fault("C_UnwrapKey", Target::Session(session)) {
        Some(Action::Return(fault)) => fault,
        _ => rv,
    }
}

/// True if the template holds the attribute.
///
/// # Safety
/// `template` must point to `count` attributes (or be null).
unsafe fn holds(
    template: *const CK_ATTRIBUTE,
    count: CK_ULONG,
    attribute: CK_ATTRIBUTE_TYPE,
) -> bool {
    if template.is_null() {
        return false;
    }
    // SAFETY: the caller's template of `count` attributes, read only.
    let attributes = unsafe { std::slice::from_raw_parts(template, count as usize) };
    attributes.iter().any(|a| a.type_ == attribute)
}

/// `C_GenerateKeyPair`: refuses a template with the attribute named by
/// `P11FAULT_REFUSE_ATTRIBUTE` (a token that does not support it), else
/// forwards (with the other faults).
#[allow(clippy::too_many_arguments)] // PKCS#11's signature.
unsafe extern "C" fn generate_key_pair(
    session: CK_SESSION_HANDLE,
    mechanism: *mut CK_MECHANISM,
    public: *mut CK_ATTRIBUTE,
    public_count: CK_ULONG,
    private: *mut CK_ATTRIBUTE,
    private_count: CK_ULONG,
    public_key: *mut CK_OBJECT_HANDLE,
    private_key: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    if let Some((attribute, rv)) = state().config.refuse_attribute {
        // SAFETY: the caller's templates with their counts.
        if unsafe {
            holds(public, public_count, attribute) || holds(private, private_count, attribute)
        } {
            return rv;
        }
    }
    // SAFETY: forwarding the caller's arguments unchanged.
    unsafe {
        generate_key_pair_forward(
            session,
            mechanism,
            public,
            public_count,
            private,
            private_count,
            public_key,
            private_key,
        )
    }
}

/// `C_Sign`: length queries pass; real signing calls count, and may fail
/// or come back with a flipped bit.
unsafe extern "C" fn sign(
    session: CK_SESSION_HANDLE,
    data: *mut CK_BYTE,
    data_len: CK_ULONG,
    signature: *mut CK_BYTE,
    signature_len: *mut CK_ULONG,
) -> CK_RV {
    let Some(real) = state().real.C_Sign else {
        return CKR_FUNCTION_NOT_SUPPORTED;
    };
    if signature.is_null() {
        // SAFETY: forwarding the length query unchanged.
        return unsafe { real(session, data, data_len, signature, signature_len) };
    }
    let action = fault("C_Sign", Target::Session(session));
    if let Some(Action::Return(rv)) = action {
        // The operation ends with the failed call (PKCS#11 §5.2): finish the
        // real one so that the session can sign again, and report the fault.
        // SAFETY: as above, the caller's buffers.
        let _ = unsafe { real(session, data, data_len, signature, signature_len) };
        return rv;
    }
    // SAFETY: forwarding the caller's buffers to the real C_Sign.
    let rv = unsafe { real(session, data, data_len, signature, signature_len) };
    if rv == CKR_OK && action == Some(Action::Flip) && !signature_len.is_null() {
        // SAFETY: the real module wrote *signature_len bytes at signature.
        unsafe {
            if *signature_len > 0 {
                *signature ^= 0x01;
            }
        }
    }
    rv
}

/// The module's entry point.
///
/// # Safety
/// `list` must point to writable memory for one pointer, as PKCS#11 asks.
#[no_mangle]
pub unsafe extern "C" fn C_GetFunctionList(list: *mut *mut CK_FUNCTION_LIST) -> CK_RV {
    if list.is_null() {
        return CKR_ARGUMENTS_BAD;
    }
    match STATE.get_or_init(load) {
        Ok(state) => {
            // SAFETY: the caller gave a valid pointer; the list lives in a
            // static for the life of the process and is never written again.
            unsafe { *list = &state.ours as *const CK_FUNCTION_LIST as *mut CK_FUNCTION_LIST };
            CKR_OK
        }
        Err(rv) => *rv,
    }
}
