//! The connector trait and its types.
