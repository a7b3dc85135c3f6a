//! Not yet implemented: see the open issues.
