//! Finding one key pair on a token by label, ID or URI: its public key
//! (from the public object, or from the private object where a token keeps
//! no public one) and its private key handle.

use crate::error::{Error, Result};
use crate::keys::PublicKey;
use crate::pkcs11::object::{
    find_objects, id_hex, read_object_info, read_public_key, ObjectSelector,
};
use crate::uri::ObjectType;
use cryptoki::object::ObjectHandle;
use cryptoki::session::Session;

/// A key pair found on the token.
#[derive(Clone, Debug)]
pub struct KeyPair {
    pub public_key: PublicKey,
    /// The private key, if the session can see it (it is logged in).
    pub private: Option<ObjectHandle>,
    pub label: Vec<u8>,
    pub id: Vec<u8>,
}

/// Finds exactly one key pair matching `selector` (its class is ignored).
/// No match is [`Error::NotFound`]; several are an error listing their IDs.
pub fn find_key_pair(session: &Session, selector: &ObjectSelector) -> Result<KeyPair> {
    let with_class = |class| ObjectSelector {
        class: Some(class),
        ..selector.clone()
    };
    let publics = find_objects(session, &with_class(ObjectType::Public))?;
    let privates = find_objects(session, &with_class(ObjectType::Private))?;
    let describe = selector.describe();

    // A key is named by its public object where there is one.
    let (anchor, anchors) = if !publics.is_empty() {
        (publics[0], &publics)
    } else if !privates.is_empty() {
        (privates[0], &privates)
    } else {
        return Err(Error::NotFound(format!(
            "no key with {describe} on the token"
        )));
    };
    if anchors.len() > 1 {
        let mut ids = Vec::new();
        for handle in anchors {
            let info = read_object_info(session, *handle)?;
            ids.push(if info.id.is_empty() {
                "(no id)".to_string()
            } else {
                id_hex(&info.id)
            });
        }
        return Err(Error::Failed(format!(
            "{describe} matches {} keys (ids {}): name one with a URI, e.g. -l 'pkcs11:object=…;id=…'",
            anchors.len(),
            ids.join(", ")
        )));
    }
    let info = read_object_info(session, anchor)?;
    let public_key = read_public_key(session, anchor)?;
    // The private key of the pair: same label and ID.
    let private = if publics.is_empty() {
        Some(anchor)
    } else {
        let mut found = None;
        for handle in privates {
            let candidate = read_object_info(session, handle)?;
            if candidate.id == info.id && candidate.label == info.label {
                found = Some(handle);
                break;
            }
        }
        found
    };
    Ok(KeyPair {
        public_key,
        private,
        label: info.label,
        id: info.id,
    })
}
