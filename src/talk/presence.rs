//! `POST /presence`: the bot's status and activities, validated into the `d` of a gateway op 3
//! (Presence Update), which Identify's `presence` takes too.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::api::{json_object, ApiError};

/// Most activities Discord shows for a bot.
const MAX_ACTIVITIES: usize = 5;
/// Longest activity name or state.
const MAX_TEXT: usize = 128;

/// `POST /presence`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PresenceRequest {
    /// `online`, `idle`, `dnd` or `invisible`.
    pub status: String,
    /// What the bot is doing: `{"name", "type", "state"?, "url"?}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub activities: Vec<Activity>,
    /// Whether the bot is away from keyboard.
    #[serde(default)]
    pub afk: bool,
}

/// One activity.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Activity {
    /// The activity's name.
    pub name: String,
    /// 0 playing, 1 streaming, 2 listening, 3 watching, 4 custom, 5 competing.
    #[serde(rename = "type", default)]
    pub kind: u8,
    /// A custom status's text, or the activity's state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// A stream URL (type 1 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// A top-level field: its name, its JSON type check, and that type in words.
type FieldKind = (&'static str, fn(&Value) -> bool, &'static str);

/// `200` answer to `POST /presence`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceResponse {
    /// The presence as Discord gets it (op 3's `d`).
    pub presence: Value,
    /// Whether it went out now (`false`: no session yet; it goes with the next Identify).
    pub sent: bool,
}

impl PresenceRequest {
    /// Parses a JSON body.
    pub fn from_json(body: &[u8]) -> Result<Self, ApiError> {
        let object = json_object(body, "presence request")?;
        if let Some(key) = object
            .keys()
            .find(|k| !matches!(k.as_str(), "status" | "activities" | "afk"))
        {
            return Err(ApiError::bad_request(
                Some(key),
                format!("unknown field {key}: a presence request has status, activities, afk"),
            ));
        }
        let kinds: [FieldKind; 3] = [
            ("status", Value::is_string, "a string"),
            ("activities", Value::is_array, "an array"),
            ("afk", Value::is_boolean, "true or false"),
        ];
        for (field, fits, what) in kinds {
            match object.get(field) {
                None if field != "status" => {}
                Some(value) if fits(value) => {}
                _ => {
                    return Err(ApiError::bad_request(
                        Some(field),
                        format!("{field} must be {what}"),
                    ))
                }
            }
        }
        // Only an activity can be wrong from here on.
        serde_json::from_value(Value::Object(object)).map_err(|e| {
            ApiError::bad_request(Some("activities"), format!("not a valid activity: {e}"))
        })
    }

    /// Checks every field; op 3's `d`.
    pub fn validate(&self) -> Result<Value, ApiError> {
        if !matches!(
            self.status.as_str(),
            "online" | "idle" | "dnd" | "invisible"
        ) {
            return Err(ApiError::bad_request(
                Some("status"),
                "status must be online, idle, dnd or invisible",
            ));
        }
        if self.activities.len() > MAX_ACTIVITIES {
            return Err(ApiError::bad_request(
                Some("activities"),
                format!("at most {MAX_ACTIVITIES} activities"),
            ));
        }
        for activity in &self.activities {
            let text_ok = |t: &str| t.chars().count() <= MAX_TEXT;
            if activity.name.trim().is_empty()
                || !text_ok(&activity.name)
                || !activity.state.as_deref().is_none_or(text_ok)
            {
                return Err(ApiError::bad_request(
                    Some("activities"),
                    format!("an activity needs a name; name and state are at most {MAX_TEXT} characters"),
                ));
            }
            if !matches!(activity.kind, 0..=5) {
                return Err(ApiError::bad_request(
                    Some("activities"),
                    "an activity's type is 0 (playing) to 5 (competing)",
                ));
            }
        }
        Ok(json!({
            "since": null,
            "activities": self.activities,
            "status": self.status,
            "afk": self.afk,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn presence(body: &str) -> Result<Value, ApiError> {
        PresenceRequest::from_json(body.as_bytes()).and_then(|r| r.validate())
    }

    #[test]
    fn presence_becomes_op3_d() {
        let d = presence(r#"{"status":"dnd","activities":[{"name":"tests","type":3}]}"#).unwrap();
        assert_eq!(
            d,
            json!({"since": null, "activities": [{"name": "tests", "type": 3}], "status": "dnd", "afk": false})
        );
    }

    #[test]
    fn presence_bad_input_names_the_field() {
        for (body, field) in [
            (r#"{"status":"busy"}"#, "status"),
            (r#"{"activities":[]}"#, "status"),
            (
                r#"{"status":"idle","activities":[{"name":""}]}"#,
                "activities",
            ),
            (
                r#"{"status":"idle","activities":[{"name":"x","type":9}]}"#,
                "activities",
            ),
            (
                r#"{"status":"idle","activities":[{"name":"x","emoji":"y"}]}"#,
                "activities",
            ),
            (r#"{"status":"idle","afk":"yes"}"#, "afk"),
            (r#"{"status":"idle","game":"x"}"#, "game"),
        ] {
            let error = presence(body).expect_err(body);
            assert_eq!(error.status, 400);
            assert_eq!(
                error.field.as_deref(),
                Some(field),
                "{body}: {}",
                error.error
            );
        }
    }
}
