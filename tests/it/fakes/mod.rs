//! Stand-ins for the outside services, as real servers on loopback: [`openai`] is a scripted
//! OpenAI-compatible model that can misbehave on purpose (the chat tests), [`receiver`] a
//! webhook / Letta / OpenAI receiver that records what it was sent (the scheduler tests).

pub mod icsfeed;
pub mod openai;
pub mod receiver;
