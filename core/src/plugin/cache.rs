//! The compiled-component cache: Wasmtime's native code for a component, sealed with a MAC of
//! this installation's key, so a restart does not compile again and code nobody here sealed is
//! never loaded.

use super::*;

impl PluginHost {
    /// The component from the compiled cache, or compiled now and put into the cache.
    /// Returns whether it came from the cache.
    pub(super) fn component(
        &self,
        hash: &str,
        bytes: Option<&[u8]>,
    ) -> Result<(Component, bool), PluginError> {
        if let Some(stored) = self.store.get(Tree::Plugins, &key(COMPILED_PREFIX, hash))? {
            match open_compiled(&self.keys, hash, &stored) {
                Some(code) => {
                    if let Some(c) = deserialize_authenticated(&self.rt, code) {
                        return Ok((c, true));
                    }
                }
                None => tracing::warn!(
                    component = hash,
                    "the compiled cache entry is not authenticated by this installation's keys; compiling the component again"
                ),
            }
        }
        let owned;
        let bytes = match bytes {
            Some(b) => b,
            None => {
                owned = self
                    .store
                    .get(Tree::Plugins, &key(WASM_PREFIX, hash))?
                    .ok_or_else(|| {
                        PluginError::Invalid(format!(
                            "the component {hash} is missing from the store"
                        ))
                    })?;
                &owned
            }
        };
        let component = self.rt.compile(bytes).map_err(|e| {
            PluginError::Invalid(format!(
                "this is not a valid WebAssembly component ({}); build plugins with plugins/build, which turns the compiled module into a component",
                e.root_cause()
            ))
        })?;
        if let Ok(compiled) = component.serialize() {
            let mut b = WriteBatch::new();
            b.put(
                Tree::Plugins,
                key(COMPILED_PREFIX, hash),
                seal_compiled(&self.keys, hash, compiled),
            );
            self.store.commit(b)?;
        }
        Ok((component, false))
    }
}

/// The tag of a sealed compiled artifact: `SEAL_MAGIC`, the key id's length (one byte), the
/// key id, the 32-byte MAC, then Wasmtime's serialization.
const SEAL_MAGIC: &[u8] = b"VBC1";

/// What the MAC of a compiled artifact covers: the component hash it was compiled from, the
/// key id, and the SHA-256 of the code. Binding the hash means a valid artifact of one
/// component cannot be planted under another component's key.
pub(super) fn compiled_mac_input(hash: &str, key_id: &str, code: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(hash.len() + key_id.len() + 34);
    m.extend_from_slice(hash.as_bytes());
    m.push(0);
    m.extend_from_slice(key_id.as_bytes());
    m.push(0);
    m.extend_from_slice(&Sha256::digest(code));
    m
}

/// Wraps Wasmtime's serialization of the component `hash` with this installation's MAC.
pub(super) fn seal_compiled(keys: &crate::keys::Keys, hash: &str, code: Vec<u8>) -> Vec<u8> {
    let id = keys.current_id().to_string();
    let (id, tag) = keys.sign(
        crate::keys::Purpose::CompiledPlugin,
        &compiled_mac_input(hash, &id, &code),
    );
    let mut out = Vec::with_capacity(code.len() + id.len() + 40);
    out.extend_from_slice(SEAL_MAGIC);
    out.push(id.len().min(255) as u8);
    out.extend_from_slice(&id.as_bytes()[..id.len().min(255)]);
    out.extend_from_slice(&tag);
    out.extend_from_slice(&code);
    out
}

/// The code of a sealed artifact of component `hash`, only when its MAC verifies with this
/// installation's keys; `None` for anything else (old unsealed entries, forged or copied ones,
/// another installation's, another component's).
pub(super) fn open_compiled<'a>(
    keys: &crate::keys::Keys,
    hash: &str,
    stored: &'a [u8],
) -> Option<&'a [u8]> {
    let rest = stored.strip_prefix(SEAL_MAGIC)?;
    let (&n, rest) = rest.split_first()?;
    let n = n as usize;
    if rest.len() < n + 32 {
        return None;
    }
    let id = std::str::from_utf8(&rest[..n]).ok()?;
    let tag = &rest[n..n + 32];
    let code = &rest[n + 32..];
    keys.verify(
        id,
        crate::keys::Purpose::CompiledPlugin,
        &compiled_mac_input(hash, id, code),
        tag,
    )
    .then_some(code)
}

/// Loads compiled code whose MAC [`open_compiled`] verified.
///
/// `Component::deserialize` trusts its input to be Wasmtime's own output: it maps the code
/// and runs it, so bytes from anyone else are arbitrary native code in this process. The store
/// is NOT trusted for this: its contents travel in backups and can be edited by anyone who can
/// write the data dir's database files. What is trusted is the key file (`verbund.key`, 0600,
/// outside the store, never in a backup): only code sealed by [`seal_compiled`] under one of
/// its keys, for exactly this component hash, reaches this function. Wasmtime also checks the
/// version and configuration of the artifact and refuses an incompatible one, in which case
/// the caller compiles the component again.
#[allow(unsafe_code)]
pub(super) fn deserialize_authenticated(rt: &Runtime, code: &[u8]) -> Option<Component> {
    // SAFETY: `code` carries a MAC of this installation's secret key over the component hash
    // and the code's digest, and only `seal_compiled` computes that MAC, over the output of
    // `Component::serialize` on this engine. So these are bytes this server's Wasmtime wrote.
    unsafe { Component::deserialize(&rt.engine, code) }.ok()
}
