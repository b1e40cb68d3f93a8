//! The HTML page's style and scripts, kept as files of their own so they read as
//! CSS and JavaScript, and compiled into phoenix so the page needs nothing else.

/// The page's style: layout, the state colours (matching the DOT and Mermaid
/// output), the legend and the detail panel.
pub const STYLE: &str = include_str!("page.css");

/// Run first, in `<head>`: collects script errors and `console.error` calls for
/// the page's self-test.
pub const ERRORS: &str = include_str!("errors.js");

/// The page's behaviour: the detail panel, the filter box and the self-test.
pub const SCRIPT: &str = include_str!("page.js");
