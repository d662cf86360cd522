//! Sluice's runtime: a pure state machine that moves a Request's tokens through a process.

pub mod history;
pub mod runtime;

pub use runtime::{
    Command, Data, Incident, Input, Instance, Modification, ModifyChange, Start, StartAt, StartError, Status,
    StepError, TaskAssignment,
};
pub mod sim;

pub use history::{HistoryEntry, HistoryEvent, NotificationEvent, NotificationRef};
