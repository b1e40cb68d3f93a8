//! Why a command could not do its job, and the one mapping from that to an exit code.

use std::process::ExitCode;

use crate::backend::BackendError;
use crate::exit_codes;
use crate::graph::target::UnknownTarget;
use crate::pipeline::PipelineError;
use crate::state::StateError;

/// A command that stopped. A command that ran and found failures (a failed build
/// step, a guest not destroyed) is not an error: it returns [`exit_codes::FAILED`].
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The command line asks for something that cannot be: exit 2.
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Target(#[from] UnknownTarget),
    /// The command would do something it must not without the user's word (replace
    /// guests that hold data): nothing was done, exit 1.
    #[error("{0}")]
    Refused(String),
    /// The definitions have errors, already printed with their diagnostics: exit 3.
    #[error("the definitions have errors")]
    InvalidDefinitions,
    /// The state directory or a backend failed: exit 4.
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Backend(#[from] BackendError),
}

impl From<PipelineError> for AppError {
    fn from(e: PipelineError) -> AppError {
        match e {
            PipelineError::Target(e) => AppError::Target(e),
            PipelineError::State(e) => AppError::State(e),
            PipelineError::Backend(e) => AppError::Backend(e),
            PipelineError::Placement(why) => AppError::Refused(why),
        }
    }
}

impl AppError {
    pub fn exit_code(&self) -> u8 {
        match self {
            AppError::Usage(_) | AppError::Target(_) => exit_codes::USAGE,
            AppError::Refused(_) => exit_codes::FAILED,
            AppError::InvalidDefinitions => exit_codes::INVALID_DEFINITIONS,
            AppError::State(_) | AppError::Backend(_) => exit_codes::ENVIRONMENT,
        }
    }

    /// Whether the message still has to be printed (diagnostics already were).
    pub fn needs_printing(&self) -> bool {
        !matches!(self, AppError::InvalidDefinitions)
    }
}

/// What every command returns: its exit code, or the error that stopped it.
pub type CmdResult = Result<ExitCode, AppError>;

/// A command's own verdict: [`exit_codes::OK`] or [`exit_codes::FAILED`].
pub fn verdict(failed: bool) -> ExitCode {
    ExitCode::from(if failed {
        exit_codes::FAILED
    } else {
        exit_codes::OK
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_documented_exit_code() {
        assert_eq!(AppError::Usage("x".into()).exit_code(), 2);
        assert_eq!(AppError::InvalidDefinitions.exit_code(), 3);
        let backend = AppError::Backend(BackendError::Failed {
            backend: "sim",
            message: "down".into(),
        });
        assert_eq!(backend.exit_code(), 4);
        assert!(backend.needs_printing());
        assert!(!AppError::InvalidDefinitions.needs_printing());
    }
}
