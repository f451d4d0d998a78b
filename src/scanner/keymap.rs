//! Key codes of a grabbed scanner to characters, as a US keyboard layout types them.
//!
//! Scanners in keyboard mode send US-layout key codes by default (their manuals call it
//! "USA keyboard"), whatever layout the desktop uses; set the scanner to US if codes come
//! out wrong. Payment codes are digits, so the top-row and keypad digits are what matters;
//! letters and common punctuation are there for prefixes, suffixes and other barcodes.

use evdev::KeyCode;

/// The character `key` types, with Shift held or not; `None` for keys that type nothing
/// (modifiers, Enter, Tab, function keys). Keypad keys type as with Num Lock on, which is how
/// scanners that use the keypad send digits.
pub fn translate(key: KeyCode, shift: bool) -> Option<char> {
    if let Some(c) = keypad(key) {
        return Some(c);
    }
    if let Some(lower) = letter(key) {
        return Some(if shift {
            lower.to_ascii_uppercase()
        } else {
            lower
        });
    }
    let (plain, shifted) = match key {
        KeyCode::KEY_1 => ('1', '!'),
        KeyCode::KEY_2 => ('2', '@'),
        KeyCode::KEY_3 => ('3', '#'),
        KeyCode::KEY_4 => ('4', '$'),
        KeyCode::KEY_5 => ('5', '%'),
        KeyCode::KEY_6 => ('6', '^'),
        KeyCode::KEY_7 => ('7', '&'),
        KeyCode::KEY_8 => ('8', '*'),
        KeyCode::KEY_9 => ('9', '('),
        KeyCode::KEY_0 => ('0', ')'),
        KeyCode::KEY_MINUS => ('-', '_'),
        KeyCode::KEY_EQUAL => ('=', '+'),
        KeyCode::KEY_LEFTBRACE => ('[', '{'),
        KeyCode::KEY_RIGHTBRACE => (']', '}'),
        KeyCode::KEY_SEMICOLON => (';', ':'),
        KeyCode::KEY_APOSTROPHE => ('\'', '"'),
        KeyCode::KEY_GRAVE => ('`', '~'),
        KeyCode::KEY_BACKSLASH => ('\\', '|'),
        KeyCode::KEY_COMMA => (',', '<'),
        KeyCode::KEY_DOT => ('.', '>'),
        KeyCode::KEY_SLASH => ('/', '?'),
        KeyCode::KEY_SPACE => (' ', ' '),
        _ => return None,
    };
    Some(if shift { shifted } else { plain })
}

/// Whether `key` ends a code (Enter, keypad Enter, Tab).
pub fn is_terminator(key: KeyCode) -> bool {
    matches!(
        key,
        KeyCode::KEY_ENTER | KeyCode::KEY_KPENTER | KeyCode::KEY_TAB
    )
}

/// Whether `key` is a Shift key.
pub fn is_shift(key: KeyCode) -> bool {
    matches!(key, KeyCode::KEY_LEFTSHIFT | KeyCode::KEY_RIGHTSHIFT)
}

fn keypad(key: KeyCode) -> Option<char> {
    Some(match key {
        KeyCode::KEY_KP0 => '0',
        KeyCode::KEY_KP1 => '1',
        KeyCode::KEY_KP2 => '2',
        KeyCode::KEY_KP3 => '3',
        KeyCode::KEY_KP4 => '4',
        KeyCode::KEY_KP5 => '5',
        KeyCode::KEY_KP6 => '6',
        KeyCode::KEY_KP7 => '7',
        KeyCode::KEY_KP8 => '8',
        KeyCode::KEY_KP9 => '9',
        KeyCode::KEY_KPDOT => '.',
        KeyCode::KEY_KPPLUS => '+',
        KeyCode::KEY_KPMINUS => '-',
        KeyCode::KEY_KPASTERISK => '*',
        KeyCode::KEY_KPSLASH => '/',
        _ => return None,
    })
}

fn letter(key: KeyCode) -> Option<char> {
    Some(match key {
        KeyCode::KEY_A => 'a',
        KeyCode::KEY_B => 'b',
        KeyCode::KEY_C => 'c',
        KeyCode::KEY_D => 'd',
        KeyCode::KEY_E => 'e',
        KeyCode::KEY_F => 'f',
        KeyCode::KEY_G => 'g',
        KeyCode::KEY_H => 'h',
        KeyCode::KEY_I => 'i',
        KeyCode::KEY_J => 'j',
        KeyCode::KEY_K => 'k',
        KeyCode::KEY_L => 'l',
        KeyCode::KEY_M => 'm',
        KeyCode::KEY_N => 'n',
        KeyCode::KEY_O => 'o',
        KeyCode::KEY_P => 'p',
        KeyCode::KEY_Q => 'q',
        KeyCode::KEY_R => 'r',
        KeyCode::KEY_S => 's',
        KeyCode::KEY_T => 't',
        KeyCode::KEY_U => 'u',
        KeyCode::KEY_V => 'v',
        KeyCode::KEY_W => 'w',
        KeyCode::KEY_X => 'x',
        KeyCode::KEY_Y => 'y',
        KeyCode::KEY_Z => 'z',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_row_digits_and_their_shifted_signs() {
        let keys = [
            KeyCode::KEY_1,
            KeyCode::KEY_2,
            KeyCode::KEY_3,
            KeyCode::KEY_4,
            KeyCode::KEY_5,
            KeyCode::KEY_6,
            KeyCode::KEY_7,
            KeyCode::KEY_8,
            KeyCode::KEY_9,
            KeyCode::KEY_0,
        ];
        let plain: String = keys.iter().filter_map(|k| translate(*k, false)).collect();
        let shifted: String = keys.iter().filter_map(|k| translate(*k, true)).collect();
        assert_eq!(plain, "1234567890");
        assert_eq!(shifted, "!@#$%^&*()");
    }

    #[test]
    fn keypad_digits_ignore_shift() {
        let keys = [
            KeyCode::KEY_KP0,
            KeyCode::KEY_KP1,
            KeyCode::KEY_KP2,
            KeyCode::KEY_KP3,
            KeyCode::KEY_KP4,
            KeyCode::KEY_KP5,
            KeyCode::KEY_KP6,
            KeyCode::KEY_KP7,
            KeyCode::KEY_KP8,
            KeyCode::KEY_KP9,
            KeyCode::KEY_KPDOT,
            KeyCode::KEY_KPMINUS,
        ];
        for shift in [false, true] {
            let typed: String = keys.iter().filter_map(|k| translate(*k, shift)).collect();
            assert_eq!(typed, "0123456789.-");
        }
    }

    #[test]
    fn letters_follow_shift() {
        assert_eq!(translate(KeyCode::KEY_A, false), Some('a'));
        assert_eq!(translate(KeyCode::KEY_A, true), Some('A'));
        assert_eq!(translate(KeyCode::KEY_Z, true), Some('Z'));
        assert_eq!(translate(KeyCode::KEY_Q, false), Some('q'));
    }

    #[test]
    fn punctuation_for_prefixes_and_suffixes() {
        assert_eq!(translate(KeyCode::KEY_GRAVE, true), Some('~'));
        assert_eq!(translate(KeyCode::KEY_GRAVE, false), Some('`'));
        assert_eq!(translate(KeyCode::KEY_MINUS, false), Some('-'));
        assert_eq!(translate(KeyCode::KEY_SLASH, true), Some('?'));
        assert_eq!(translate(KeyCode::KEY_APOSTROPHE, true), Some('"'));
        assert_eq!(translate(KeyCode::KEY_DOT, false), Some('.'));
    }

    #[test]
    fn keys_that_type_nothing() {
        for key in [
            KeyCode::KEY_ENTER,
            KeyCode::KEY_KPENTER,
            KeyCode::KEY_TAB,
            KeyCode::KEY_LEFTSHIFT,
            KeyCode::KEY_LEFTCTRL,
            KeyCode::KEY_ESC,
            KeyCode::KEY_BACKSPACE,
            KeyCode::KEY_F1,
            KeyCode::BTN_LEFT,
        ] {
            assert_eq!(translate(key, false), None, "{key:?}");
            assert_eq!(translate(key, true), None, "{key:?}");
        }
        assert!(is_terminator(KeyCode::KEY_ENTER));
        assert!(is_terminator(KeyCode::KEY_KPENTER));
        assert!(is_terminator(KeyCode::KEY_TAB));
        assert!(!is_terminator(KeyCode::KEY_1));
        assert!(is_shift(KeyCode::KEY_RIGHTSHIFT));
        assert!(!is_shift(KeyCode::KEY_LEFTCTRL));
    }
}
