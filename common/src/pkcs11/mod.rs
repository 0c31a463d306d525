//! The PKCS#11 layer: loading a module, choosing a token, opening a
//! logged-in session. Every tool reaches the token through here.
//!
//! Module: an explicit path (`-m`, a URI's `module-path`, `PKCS11_PROVIDER`
//! and friends), a URI's `module-name` looked up in the usual module
//! directories, or SoftHSM2 at its Debian and upstream paths.
//!
//! Token: by slot ID (`-s`, `slot-id=`), label, serial, manufacturer,
//! model, slot description or slot manufacturer; all given must match.
//! With no selection: slot 0 if it holds an initialized token (BIND's
//! default), else the only initialized token, else an error listing them.

pub mod keygen;
pub mod keypair;
pub mod mechanisms;
pub mod object;
pub mod pool;
pub mod signer;
pub mod speed;
pub mod wrap;

use crate::error::{Error, Result};
use crate::pin::PinSource;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::{Slot, SlotInfo, TokenInfo};
use std::path::PathBuf;

/// Which PKCS#11 module to load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModuleChoice {
    /// A path given by the operator.
    Explicit(PathBuf),
    /// A URI's `module-name`: looked up in the module directories.
    Named(String),
    /// SoftHSM2 at its usual places.
    Default,
}

/// Which token to use. Every field that is set must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenSelector {
    pub slot_id: Option<u64>,
    pub label: Option<Vec<u8>>,
    pub serial: Option<Vec<u8>>,
    pub manufacturer: Option<Vec<u8>>,
    pub model: Option<Vec<u8>>,
    pub slot_description: Option<Vec<u8>>,
    pub slot_manufacturer: Option<Vec<u8>>,
}

impl TokenSelector {
    /// True if nothing was asked for: the default rules apply.
    pub fn is_empty(&self) -> bool {
        *self == TokenSelector::default()
    }

    /// True if the slot and its token have every attribute asked for.
    pub fn matches(&self, slot: &SlotSummary) -> bool {
        let token = slot.token.as_ref();
        let field = |wanted: &Option<Vec<u8>>, actual: Option<&str>| match wanted {
            None => true,
            // Token fields are blank-padded in PKCS#11; cryptoki trims them.
            Some(wanted) => actual.is_some_and(|a| trim_padding(wanted) == a.as_bytes()),
        };
        self.slot_id.is_none_or(|id| id == slot.id)
            && field(&self.label, token.map(TokenInfo::label))
            && field(&self.serial, token.map(TokenInfo::serial_number))
            && field(&self.manufacturer, token.map(TokenInfo::manufacturer_id))
            && field(&self.model, token.map(TokenInfo::model))
            && field(&self.slot_description, Some(slot.info.slot_description()))
            && field(&self.slot_manufacturer, Some(slot.info.manufacturer_id()))
    }

    /// The selection in words, for messages.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(id) = self.slot_id {
            parts.push(format!("slot {id}"));
        }
        let mut text = |name: &str, value: &Option<Vec<u8>>| {
            if let Some(value) = value {
                parts.push(format!("{name} '{}'", String::from_utf8_lossy(value)));
            }
        };
        text("token", &self.label);
        text("serial", &self.serial);
        text("manufacturer", &self.manufacturer);
        text("model", &self.model);
        text("slot-description", &self.slot_description);
        text("slot-manufacturer", &self.slot_manufacturer);
        parts.join(", ")
    }
}

fn trim_padding(value: &[u8]) -> &[u8] {
    let end = value.iter().rposition(|&b| b != b' ').map_or(0, |i| i + 1);
    &value[..end]
}

/// Everything needed to reach a token: module, token, PIN source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionSpec {
    pub module: ModuleChoice,
    pub token: TokenSelector,
    pub pin: PinSource,
}

/// One slot, with its token if one is present.
#[derive(Clone, Debug)]
pub struct SlotSummary {
    pub slot: Slot,
    pub id: u64,
    pub info: SlotInfo,
    pub token: Option<TokenInfo>,
}

impl SlotSummary {
    /// True if a token is present and initialized.
    pub fn has_initialized_token(&self) -> bool {
        self.token
            .as_ref()
            .is_some_and(TokenInfo::token_initialized)
    }

    /// A short description for messages: `slot 123 (token 'dnssec', serial 'abc')`.
    pub fn describe(&self) -> String {
        match &self.token {
            Some(token) if token.token_initialized() => format!(
                "slot {} (token '{}', serial '{}')",
                self.id,
                token.label(),
                token.serial_number()
            ),
            Some(_) => format!("slot {} (uninitialized token)", self.id),
            None => format!("slot {} (no token)", self.id),
        }
    }
}

/// A loaded and initialized PKCS#11 module.
pub struct Module {
    context: Pkcs11,
    path: PathBuf,
}

/// Where SoftHSM2 lives on Debian (and its multiarch twin) and upstream.
fn default_module_paths() -> Vec<PathBuf> {
    let multiarch = format!("/usr/lib/{}-linux-gnu", std::env::consts::ARCH);
    vec![
        PathBuf::from("/usr/lib/softhsm/libsofthsm2.so"),
        PathBuf::from(format!("{multiarch}/softhsm/libsofthsm2.so")),
        PathBuf::from(format!("{multiarch}/pkcs11/libsofthsm2.so")),
        PathBuf::from("/usr/local/lib/softhsm/libsofthsm2.so"),
        PathBuf::from("/usr/lib64/pkcs11/libsofthsm2.so"),
        PathBuf::from("/usr/lib/pkcs11/libsofthsm2.so"),
    ]
}

/// Checks that a `module-name` is a bare name, so that it is looked up only
/// in the module directories: no `/` (an absolute or relative path would
/// load any file), no `..`, no NUL, not empty. The error completes
/// "attribute 'module-name' …".
pub fn check_module_name(name: &str) -> std::result::Result<(), &'static str> {
    if name.is_empty() {
        Err("is empty: give a module's name, such as 'libsofthsm2'")
    } else if name.contains('/') || name.contains("..") || name.contains('\0') {
        Err("must be a bare module name without '/', '..' or NUL: give a path with --module")
    } else {
        Ok(())
    }
}

/// Where a URI's `module-name` is looked for (p11-kit's module directories).
fn named_module_paths(name: &str) -> Vec<PathBuf> {
    let file = if name.ends_with(".so") || name.contains(".so.") {
        name.to_string()
    } else {
        format!("{name}.so")
    };
    let multiarch = format!("/usr/lib/{}-linux-gnu", std::env::consts::ARCH);
    [
        format!("{multiarch}/pkcs11"),
        "/usr/lib/pkcs11".into(),
        "/usr/lib64/pkcs11".into(),
        "/usr/local/lib/pkcs11".into(),
        multiarch,
        "/usr/lib".into(),
    ]
    .into_iter()
    .map(|dir| PathBuf::from(dir).join(&file))
    .collect()
}

impl Module {
    /// Loads and initializes the module. A failure names every path tried.
    pub fn load(choice: &ModuleChoice) -> Result<Module> {
        let candidates = match choice {
            ModuleChoice::Explicit(path) => vec![path.clone()],
            ModuleChoice::Named(name) => {
                check_module_name(name)
                    .map_err(|problem| Error::usage(format!("module-name '{name}' {problem}")))?;
                named_module_paths(name)
            }
            ModuleChoice::Default => default_module_paths(),
        };
        let mut tried = Vec::new();
        for path in candidates {
            let shown = path.display().to_string();
            if !path.exists() {
                tried.push((shown, "no such file".to_string()));
                continue;
            }
            match Pkcs11::new(&path) {
                Ok(context) => {
                    let flags = CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK);
                    match context.initialize(flags) {
                        Ok(()) => return Ok(Module { context, path }),
                        Err(error) => {
                            return Err(Error::pkcs11(format!("module '{shown}'"), error))
                        }
                    }
                }
                Err(error) => tried.push((shown, load_reason(&error))),
            }
        }
        Err(Error::ModuleLoad { tried })
    }

    /// The module's file name.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The cryptoki context, for code in this module's children.
    pub(crate) fn context(&self) -> &Pkcs11 {
        &self.context
    }

    /// Every slot, in the module's order, with its token where present.
    pub fn slots(&self) -> Result<Vec<SlotSummary>> {
        let slots = self
            .context
            .get_all_slots()
            .map_err(|e| Error::pkcs11("", e))?;
        let mut summaries = Vec::with_capacity(slots.len());
        for slot in slots {
            let info = self
                .context
                .get_slot_info(slot)
                .map_err(|e| Error::pkcs11(format!("slot {}", slot.id()), e))?;
            // A token may be absent or unreadable (e.g. removed): then None,
            // as BIND keeps only slots whose C_GetTokenInfo succeeds.
            let token = if info.token_present() {
                self.context.get_token_info(slot).ok()
            } else {
                None
            };
            summaries.push(SlotSummary {
                slot,
                id: slot.id(),
                info,
                token,
            });
        }
        Ok(summaries)
    }

    /// The slot the selector names (see the module documentation).
    pub fn select_token(&self, selector: &TokenSelector) -> Result<SlotSummary> {
        let slots = self.slots()?;
        let listing = || {
            let described: Vec<String> = slots.iter().map(SlotSummary::describe).collect();
            if described.is_empty() {
                "the module has no slots".to_string()
            } else {
                format!("available: {}", described.join(", "))
            }
        };
        if selector.is_empty() {
            if let Some(slot) = slots
                .iter()
                .find(|s| s.id == 0 && s.has_initialized_token())
            {
                return Ok(slot.clone());
            }
            let initialized: Vec<&SlotSummary> =
                slots.iter().filter(|s| s.has_initialized_token()).collect();
            return match initialized.as_slice() {
                [only] => Ok((*only).clone()),
                [] => Err(Error::NotFound(format!(
                    "no initialized token in module '{}' ({})",
                    self.path.display(),
                    listing()
                ))),
                _ => Err(Error::usage(format!(
                    "several tokens: choose one with -s SLOT, --token LABEL or --serial SERIAL ({})",
                    listing()
                ))),
            };
        }
        let matching: Vec<&SlotSummary> = slots.iter().filter(|s| selector.matches(s)).collect();
        match matching.as_slice() {
            [only] if only.token.is_some() => Ok((*only).clone()),
            [only] => Err(Error::NotFound(format!(
                "{} holds no token ({})",
                only.describe(),
                listing()
            ))),
            [] => Err(Error::NotFound(format!(
                "no token matches {} ({})",
                selector.describe(),
                listing()
            ))),
            _ => Err(Error::usage(format!(
                "{} matches several tokens: add -s SLOT or --serial SERIAL ({})",
                selector.describe(),
                listing()
            ))),
        }
    }

    /// Opens a session on the slot: read-write when `read_write`.
    pub fn open_session(&self, slot: &SlotSummary, read_write: bool) -> Result<Session> {
        let context = format!("opening a session on {}", slot.describe());
        let session = if read_write {
            self.context.open_rw_session(slot.slot)
        } else {
            self.context.open_ro_session(slot.slot)
        };
        session.map_err(|e| Error::pkcs11(context, e))
    }

    /// Logs the session in as the user, getting the PIN from `pin`. A token
    /// that needs no login is not asked for a PIN.
    pub fn login(&self, session: &Session, slot: &SlotSummary, pin: &PinSource) -> Result<()> {
        if slot.token.as_ref().is_some_and(|t| !t.login_required()) {
            return Ok(());
        }
        self.login_with_pin(session, slot, &pin.obtain()?)
    }

    /// Logs the session in with a PIN already obtained (for the second
    /// and later sessions of one token: the PIN is asked for once).
    pub fn login_with_pin(
        &self,
        session: &Session,
        slot: &SlotSummary,
        pin: &crate::pin::Pin,
    ) -> Result<()> {
        if slot.token.as_ref().is_some_and(|t| !t.login_required()) {
            return Ok(());
        }
        match session.login_with_raw(UserType::User, pin.as_auth()) {
            Ok(()) => Ok(()),
            // Another session of this process logged in already: fine.
            Err(cryptoki::error::Error::Pkcs11(
                cryptoki::error::RvError::UserAlreadyLoggedIn,
                _,
            )) => Ok(()),
            Err(error) => Err(Error::pkcs11(
                format!("logging in to {}", slot.describe()),
                error,
            )),
        }
    }
}

/// A token reached and (when asked) logged in: what tools work with.
pub struct Token {
    pub module: Module,
    pub slot: SlotSummary,
    pub session: Session,
}

/// How a tool wants its session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read-only, no login: public objects only (`pkcs11-list -P`).
    PublicReadOnly,
    /// Read-only, logged in.
    ReadOnly,
    /// Read-write, logged in (key generation, destruction).
    ReadWrite,
}

impl Token {
    /// Loads the module, selects the token, opens a session and logs in
    /// as `access` requires. `before_login` runs once the token is known
    /// and before the PIN is asked for (BIND prints its headers there).
    pub fn open(
        spec: &ConnectionSpec,
        access: Access,
        before_login: impl FnOnce(&SlotSummary) -> Result<()>,
    ) -> Result<Token> {
        let module = Module::load(&spec.module)?;
        let slot = module.select_token(&spec.token)?;
        if !slot.has_initialized_token() {
            return Err(Error::Failed(format!(
                "{} is not initialized (softhsm2-util --init-token, or the HSM's own tool)",
                slot.describe()
            )));
        }
        before_login(&slot)?;
        let session = module.open_session(&slot, access == Access::ReadWrite)?;
        if access != Access::PublicReadOnly {
            module.login(&session, &slot, &spec.pin)?;
        }
        Ok(Token {
            module,
            slot,
            session,
        })
    }
}

fn load_reason(error: &cryptoki::error::Error) -> String {
    match error {
        cryptoki::error::Error::LibraryLoading(e) => {
            let text = e.to_string();
            // libloading repeats the path; keep what dlopen said after it.
            match text.rfind(": ") {
                Some(at) => text[at + 2..].to_string(),
                None => text,
            }
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loading_a_missing_module_names_every_path_tried() {
        let error = Module::load(&ModuleChoice::Explicit("/nonexistent/lib.so".into()))
            .err()
            .expect("must fail");
        let text = error.to_string();
        assert!(
            text.contains("'/nonexistent/lib.so' (no such file)"),
            "{text}"
        );
        let error = Module::load(&ModuleChoice::Named("no-such-module".into()))
            .err()
            .expect("must fail");
        assert!(error
            .to_string()
            .contains("/usr/lib/pkcs11/no-such-module.so"));
    }

    #[test]
    fn module_names_are_bare_names() {
        for name in [
            "/tmp/evil",
            "../../tmp/evil",
            "a/b",
            "..",
            "x..y",
            "a\0b",
            "",
        ] {
            let error = Module::load(&ModuleChoice::Named(name.into()))
                .err()
                .expect(name);
            assert_eq!(error.exit_code(), 2, "{name}: {error}");
        }
        assert!(check_module_name("libsofthsm2").is_ok());
        assert!(check_module_name("opensc-pkcs11.so.1").is_ok());
    }

    #[test]
    fn a_file_that_is_no_module_says_why() {
        let error = Module::load(&ModuleChoice::Explicit("/etc/hostname".into()))
            .err()
            .expect("must fail");
        assert!(error
            .to_string()
            .starts_with("cannot load a PKCS#11 module; tried '/etc/hostname' ("));
    }
}
