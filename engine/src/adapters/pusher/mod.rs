//! Pusher adapters: Pinpoint (production, with the AWS capability) and the recording
//! pusher (embedded default).

pub mod pinpoint;
pub mod recording;
