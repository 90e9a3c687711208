//! Serde shapes of the input records. One struct covers both Pinpoint and SES
//! records so that each record is parsed exactly once; field names of the two
//! formats do not collide where it matters (`event_type` vs `eventType`,
//! `facets` vs `mail`).
//!
//! Nested objects are boxed: serde builds each struct on the stack and moves
//! it up through every level, so the record's size is copied several times
//! per record. Boxed, `WireRecord` is 344 bytes instead of 1,296, and parsing
//! the benchmark's Pinpoint records takes a quarter less time.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::timestamp::Micros;

/// A string that borrows from the record text when it has no escapes.
/// (serde borrows `Cow` only as a bare field, not inside `Option` or `Vec`.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Str<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct WireRecord<'a> {
    // ---- Pinpoint
    #[serde(borrow)]
    pub event_type: Option<Str<'a>>,
    #[serde(borrow)]
    pub event_id: Option<Str<'a>>,
    pub event_timestamp: Option<Micros>,
    pub arrival_timestamp: Option<Micros>,
    #[serde(borrow)]
    pub application: Option<Application<'a>>,
    #[serde(borrow)]
    pub client: Option<Client<'a>>,
    #[serde(borrow)]
    pub attributes: Option<Attributes<'a>>,
    #[serde(borrow)]
    pub metrics: Option<Metrics<'a>>,
    #[serde(borrow)]
    pub facets: Option<Box<Facets<'a>>>,
    #[serde(borrow, alias = "awsaccountid")]
    #[serde(rename = "awsAccountId")]
    pub aws_account_id: Option<Str<'a>>,
    // ---- SES
    #[serde(borrow, rename = "eventType")]
    pub ses_event_type: Option<Str<'a>>,
    #[serde(borrow, rename = "notificationType")]
    pub ses_notification_type: Option<Str<'a>>,
    #[serde(borrow)]
    pub mail: Option<Box<SesMail<'a>>>,
    #[serde(borrow)]
    pub bounce: Option<Box<SesBounce<'a>>>,
    #[serde(borrow)]
    pub complaint: Option<Box<SesComplaint<'a>>>,
    #[serde(borrow)]
    pub delivery: Option<Box<SesTimed<'a>>>,
    #[serde(borrow)]
    pub send: Option<Box<SesTimed<'a>>>,
    #[serde(borrow)]
    pub reject: Option<Box<SesReason<'a>>>,
    #[serde(borrow)]
    pub open: Option<Box<SesEngagement<'a>>>,
    #[serde(borrow)]
    pub click: Option<Box<SesEngagement<'a>>>,
    #[serde(borrow)]
    pub failure: Option<Box<SesFailure<'a>>>,
    #[serde(borrow, rename = "deliveryDelay")]
    pub delivery_delay: Option<Box<SesDelay<'a>>>,
    #[serde(borrow)]
    pub subscription: Option<Box<SesTimed<'a>>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Application<'a> {
    #[serde(borrow)]
    pub app_id: Option<Str<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Client<'a> {
    #[serde(borrow)]
    pub client_id: Option<Str<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Facets<'a> {
    #[serde(borrow)]
    pub email_channel: Option<EmailChannel<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct EmailChannel<'a> {
    #[serde(borrow)]
    pub mail_event: Option<MailEvent<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct MailEvent<'a> {
    #[serde(borrow)]
    pub mail: Option<Box<PinpointMail<'a>>>,
    #[serde(borrow)]
    pub click: Option<Box<PinpointEngagement<'a>>>,
    #[serde(borrow)]
    pub open: Option<Box<PinpointEngagement<'a>>>,
    #[serde(borrow)]
    pub unsubscribe: Option<Box<PinpointEngagement<'a>>>,
    #[serde(borrow)]
    pub bounce: Option<Box<PinpointBounce<'a>>>,
    #[serde(borrow)]
    pub complaint: Option<Box<PinpointComplaint<'a>>>,
    #[serde(borrow)]
    pub reject: Option<Box<SesReason<'a>>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PinpointMail<'a> {
    #[serde(borrow)]
    pub message_id: Option<Str<'a>>,
    pub message_send_timestamp: Option<Micros>,
    #[serde(borrow)]
    pub from_address: Option<Str<'a>>,
    #[serde(borrow)]
    pub destination: Option<Vec<Str<'a>>>,
    #[serde(borrow)]
    pub common_headers: Option<PinpointHeaders<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PinpointHeaders<'a> {
    #[serde(borrow)]
    pub subject: Option<Str<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PinpointEngagement<'a> {
    #[serde(borrow)]
    pub link: Option<Str<'a>>,
    #[serde(borrow)]
    pub user_agent: Option<Str<'a>>,
    #[serde(borrow)]
    pub ip_address: Option<Str<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PinpointBounce<'a> {
    #[serde(borrow)]
    pub bounce_type: Option<Str<'a>>,
    #[serde(borrow)]
    pub bounce_sub_type: Option<Str<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PinpointComplaint<'a> {
    #[serde(borrow)]
    pub complaint_feedback_type: Option<Str<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SesMail<'a> {
    pub timestamp: Option<Micros>,
    #[serde(borrow, rename = "messageId")]
    pub message_id: Option<Str<'a>>,
    #[serde(borrow)]
    pub source: Option<Str<'a>>,
    #[serde(borrow)]
    pub destination: Option<Vec<Str<'a>>>,
    #[serde(borrow)]
    pub tags: Option<Tags<'a>>,
    #[serde(borrow, rename = "commonHeaders")]
    pub common_headers: Option<SesHeaders<'a>>,
    #[serde(borrow, rename = "sendingAccountId")]
    pub sending_account_id: Option<Str<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SesHeaders<'a> {
    #[serde(borrow)]
    pub subject: Option<Str<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SesBounce<'a> {
    #[serde(borrow, rename = "bounceType")]
    pub bounce_type: Option<Str<'a>>,
    #[serde(borrow, rename = "bounceSubType")]
    pub bounce_sub_type: Option<Str<'a>>,
    pub timestamp: Option<Micros>,
    #[serde(borrow, rename = "bouncedRecipients")]
    pub recipients: Option<Vec<SesRecipient<'a>>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SesComplaint<'a> {
    #[serde(borrow, rename = "complaintFeedbackType")]
    pub feedback_type: Option<Str<'a>>,
    pub timestamp: Option<Micros>,
    #[serde(borrow, rename = "complainedRecipients")]
    pub recipients: Option<Vec<SesRecipient<'a>>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SesRecipient<'a> {
    #[serde(borrow, rename = "emailAddress")]
    pub email_address: Option<Str<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SesTimed<'a> {
    pub timestamp: Option<Micros>,
    #[serde(skip)]
    pub _p: std::marker::PhantomData<&'a ()>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SesReason<'a> {
    #[serde(borrow)]
    pub reason: Option<Str<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SesFailure<'a> {
    #[serde(borrow, rename = "errorMessage")]
    pub error_message: Option<Str<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SesDelay<'a> {
    pub timestamp: Option<Micros>,
    #[serde(borrow, rename = "delayType")]
    pub delay_type: Option<Str<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SesEngagement<'a> {
    pub timestamp: Option<Micros>,
    #[serde(borrow)]
    pub link: Option<Str<'a>>,
    #[serde(borrow, rename = "userAgent")]
    pub user_agent: Option<Str<'a>>,
    #[serde(borrow, rename = "ipAddress")]
    pub ip_address: Option<Str<'a>>,
}

/// A string-valued map that keeps its entries in record order. Numbers and
/// booleans are kept as their JSON text; nested values as compact JSON.
#[derive(Default)]
pub struct Attributes<'a>(pub Vec<(Cow<'a, str>, Cow<'a, str>)>);

/// A number-valued map (numeric strings are accepted).
#[derive(Default)]
pub struct Metrics<'a>(pub Vec<(Cow<'a, str>, f64)>);

/// SES message tags: name → list of values (joined with `,`).
#[derive(Default)]
pub struct Tags<'a>(pub Vec<(Cow<'a, str>, Cow<'a, str>)>);

struct TextValue<'a>(Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for TextValue<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TextValue<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an attribute value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(TextValue(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(TextValue(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(TextValue(Some(Cow::Owned(v))))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(TextValue(Some(Cow::Borrowed(if v {
                    "true"
                } else {
                    "false"
                }))))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(TextValue(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(TextValue(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(TextValue(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(TextValue(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(TextValue(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let v = serde_json::Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(TextValue(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                let v = serde_json::Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(TextValue(Some(Cow::Owned(v.to_string()))))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Attributes<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Attributes<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of attributes")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Attributes::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some((k, v)) = map.next_entry::<Str<'de>, TextValue<'de>>()? {
                    if let Some(v) = v.0 {
                        out.push((k.0, v));
                    }
                }
                Ok(Attributes(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Metrics<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Metrics<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of numeric metrics")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Metrics::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(4));
                while let Some((k, v)) = map.next_entry::<Str<'de>, TextValue<'de>>()? {
                    let Some(v) = v.0 else { continue };
                    let n: f64 = v.parse().map_err(|_| {
                        de::Error::custom(format!("metric {:?} is not a number: {v:?}", k.0))
                    })?;
                    if !n.is_finite() {
                        return Err(de::Error::custom(format!("metric {:?} is not finite", k.0)));
                    }
                    out.push((k.0, n));
                }
                Ok(Metrics(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Tags<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Tags<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of message tags (name: [values])")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Tags::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = map.next_key::<Str<'de>>()? {
                    let values: OneOrMany<'de> = map.next_value()?;
                    let joined = match values.0.len() {
                        0 => continue,
                        1 => values.0.into_iter().next().expect("one value"),
                        _ => Cow::Owned(values.0.join(",")),
                    };
                    out.push((k.0, joined));
                }
                Ok(Tags(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// A tag value: a list of strings, or a single string.
struct OneOrMany<'a>(Vec<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for OneOrMany<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OneOrMany<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(OneOrMany(vec![Cow::Borrowed(v)]))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(OneOrMany(vec![Cow::Owned(v.to_owned())]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element::<TextValue<'de>>()? {
                    if let Some(v) = v.0 {
                        out.push(v);
                    }
                }
                Ok(OneOrMany(out))
            }
        }
        d.deserialize_any(V)
    }
}
