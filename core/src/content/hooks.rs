//! Extension points of content writes: validators that run after schema validation, and guards
//! asked before every state change. The plugin host implements them; the content engine knows
//! nothing of plugins.

use crate::content::EntryRecord;
use crate::schema::{ContentType, FieldError};
use crate::workflow::{HistoryItem, TransitionDef, WorkflowDef};

/// Who asks for a transition and why.
#[derive(Debug, Clone, Default)]
pub struct TransitionContext {
    /// The caller's role (`editor`, `reviewer`, `admin` …), when known.
    pub role: Option<String>,
    /// The comment given with the transition.
    pub comment: Option<String>,
}

/// A hook that could not give an answer (the plugin trapped, hit a limit, is misbuilt).
/// Writes fail closed: the write is refused.
#[derive(Debug, Clone, thiserror::Error)]
#[error("plugin {plugin} failed in {hook}: {detail}")]
pub struct HookFailure {
    pub plugin: String,
    pub hook: &'static str,
    pub detail: String,
}

/// What the content engine asks before it writes.
pub trait ContentHooks: Send + Sync {
    /// Whether any validator looks at entries of `ct` (so that writes of other types skip
    /// building what a validator would see).
    fn validates(&self, ct: &ContentType) -> bool;

    /// Problems of an entry about to be written (after the JSON Schema accepted it).
    fn validate(&self, ct: &ContentType, rec: &EntryRecord)
    -> Result<Vec<FieldError>, HookFailure>;

    /// The validators' problems of an entry the JSON Schema refused, to report with the
    /// schema's (so that editors fix everything in one round). A validator that fails on
    /// such an entry is skipped, and its failure is not held against it.
    fn validate_advisory(&self, ct: &ContentType, rec: &EntryRecord) -> Vec<FieldError> {
        let _ = (ct, rec);
        Vec::new()
    }

    /// A plugin an admin marked required whose validator or guard sees `ct` and which is
    /// disabled (by the admin or after faults): its name and why it is off.
    fn required_off(&self, ct: &ContentType) -> Option<(String, Option<String>)> {
        let _ = ct;
        None
    }

    /// Plugins with a validator that would see `ct` but are disabled (and not required):
    /// their checks do not run, which the editor is told.
    fn validators_off(&self, ct: &ContentType) -> Vec<String> {
        let _ = ct;
        Vec::new()
    }

    /// The lifecycle a plugin declares for `ct`, with the plugin's name — also while that
    /// plugin is disabled or does not load, so that its types never fall back to a lifecycle
    /// without its rules.
    fn lifecycle(&self, ct: &ContentType) -> Option<(String, WorkflowDef)>;

    /// Whether the governing `plugin` can be asked now (installed, loaded and enabled).
    fn available(&self, plugin: &str) -> bool;

    /// Asks the governing `plugin` whether `rec` may take `t`: `Some(reason)` if not.
    #[allow(clippy::too_many_arguments)]
    fn on_transition(
        &self,
        plugin: &str,
        ct: &ContentType,
        rec: &EntryRecord,
        t: &TransitionDef,
        actor: Option<&str>,
        ctx: &TransitionContext,
        history: &[HistoryItem],
    ) -> Result<Option<String>, HookFailure>;
}
