//! iCalendar (RFC 5545) files in and out: [`import`] reads real-world files leniently, the
//! writer turns events into a calendar with a VTIMEZONE for every zone used.
