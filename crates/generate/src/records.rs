//! The simulated sender: campaigns, runs, messages and their events.

use serde_json::{Value, json};

use crate::GenerateOptions;
use crate::rng::Rng;

const ACCOUNT: &str = "123456789012";
const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;
const FROM: &str = "news@mail.example.com";
const DOMAINS: &[(&str, f64)] = &[
    ("gmail.com", 0.35),
    ("yahoo.com", 0.15),
    ("outlook.com", 0.15),
    ("icloud.com", 0.12),
    ("example.org", 0.13),
    ("corp.example.net", 0.10),
];
const USER_AGENTS: &[(&str, f64)] = &[
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
        0.35,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
        0.25,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
        0.15,
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
        0.15,
    ),
    (
        "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17726; Pro)",
        0.10,
    ),
];
/// User agents of image proxies and scanners that open mail automatically.
const MACHINE_AGENTS: &[&str] = &[
    "Mozilla/5.0",
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
];
const SEND_STATUSES: &[(&str, f64)] = &[
    ("SUCCESS", 0.915),
    ("DAILY_CAP", 0.02),
    ("QUIET_TIME", 0.015),
    ("HOLDOUT", 0.01),
    ("DUPLICATE_ADDRESS", 0.01),
    ("FAILURE_PERMANENT", 0.01),
    ("EXPIRED", 0.005),
    ("THROTTLED", 0.005),
    ("CAMPAIGN_CAP", 0.005),
    ("TRANSIENT_FAILURE", 0.005),
];
const SMS_FAILURES: &[&str] = &[
    "UNREACHABLE",
    "CARRIER_UNREACHABLE",
    "BLOCKED",
    "TTL_EXPIRED",
    "INVALID",
];
const COUNTRIES: &[(&str, f64)] = &[
    ("US", 0.6),
    ("GB", 0.15),
    ("DE", 0.1),
    ("IN", 0.1),
    ("BR", 0.05),
];
const SUBJECTS: &[&str] = &[
    "Your autumn picks are here",
    "Last chance: 20% off ends tonight",
    "What's new this week",
    "We saved your cart",
    "A thank-you from all of us",
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Email,
    Sms,
    Push,
    Transactional,
    Journey,
}

#[derive(Debug, Clone)]
struct Campaign {
    kind: Kind,
    id: String,
    treatments: u32,
    runs: u32,
    subject: &'static str,
    links: Vec<String>,
    push_type: &'static str,
}

/// What was written.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Lines written, duplicates and malformed lines included.
    pub records: u64,
    pub duplicates: u64,
    pub malformed: u64,
    pub messages: u64,
    pub campaigns: u64,
    pub runs: u64,
    pub files: u64,
}

pub(crate) struct World {
    rng: Rng,
    opts: GenerateOptions,
    apps: [String; 2],
    endpoints: u64,
    campaigns: Vec<Campaign>,
    run_index: u64,
    runs_planned: u64,
    targets_per_run: i64,
    out: Vec<(i64, String)>,
    since_malformed: u64,
    pub stats: Stats,
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a.abs() } else { gcd(b, a % b) }
}

impl World {
    pub fn new(opts: &GenerateOptions) -> World {
        let mut rng = Rng::new(opts.seed);
        let apps = [rng.hex(32), rng.hex(32)];
        let runs_planned = (opts.days as u64 * 6).max(4);
        // About 4.5 records per targeted endpoint.
        let targets_per_run = ((opts.events as f64 / runs_planned as f64 / 4.5) as i64).max(10);
        World {
            rng,
            opts: opts.clone(),
            apps,
            endpoints: (opts.events / 8).max(500),
            campaigns: Vec::new(),
            run_index: 0,
            runs_planned,
            targets_per_run,
            out: Vec::new(),
            since_malformed: 0,
            stats: Stats::default(),
        }
    }

    /// The next run: its start and its records (arrival ms, JSON line).
    pub fn next_run(&mut self) -> Option<(i64, Vec<(i64, String)>)> {
        if self.stats.records >= self.opts.events {
            return None;
        }
        let spacing = (self.opts.days as i64 * DAY_MS) / self.runs_planned as i64;
        let start = self.opts.start_ms
            + self.run_index as i64 * spacing
            + self.rng.range(0, spacing.max(2) - 1);
        self.run_index += 1;
        let campaign = self.pick_campaign();
        let run_id = self.rng.hex(32);
        let targets = self
            .rng
            .range(self.targets_per_run / 2, self.targets_per_run * 3 / 2)
            .max(1);
        self.stats.runs += 1;
        let pool = self.endpoints as i64;
        let targets = targets.min(pool);
        let first_endpoint = self.rng.range(0, pool - 1);
        // Distinct endpoints within a run: a stride coprime with the pool
        // visits every endpoint once before it repeats.
        let mut stride = 1 + 2 * self.rng.range(0, 1000);
        while gcd(stride, pool) != 1 {
            stride += 2;
        }
        for k in 0..targets {
            let ep = (first_endpoint + k * stride).rem_euclid(pool) as u64;
            let send_ms = start + k * 20 + self.rng.range(0, 19);
            self.target(&campaign, &run_id, ep, send_ms);
        }
        let records = std::mem::take(&mut self.out);
        Some((start, records))
    }

    fn pick_campaign(&mut self) -> Campaign {
        // A recurring campaign runs again; otherwise a new one starts.
        let reusable: Vec<usize> = (0..self.campaigns.len())
            .filter(|&i| {
                self.campaigns[i].runs < 3
                    && matches!(self.campaigns[i].kind, Kind::Email | Kind::Sms | Kind::Push)
            })
            .collect();
        if !reusable.is_empty() && self.rng.chance(0.35) {
            let i = *self.rng.pick(&reusable);
            self.campaigns[i].runs += 1;
            return self.campaigns[i].clone();
        }
        let kind = *self.rng.weighted(&[
            (Kind::Email, 0.55),
            (Kind::Sms, 0.15),
            (Kind::Push, 0.1),
            (Kind::Transactional, 0.12),
            (Kind::Journey, 0.08),
        ]);
        let id = self.rng.hex(32);
        let treatments = if kind == Kind::Email && self.rng.chance(0.35) {
            self.rng.range(2, 3) as u32
        } else {
            1
        };
        let slug = &id[..6];
        let links = vec![
            format!(
                "https://shop.example.com/sale?utm_source=pinpoint&utm_medium=email&utm_campaign={slug}"
            ),
            format!(
                "https://shop.example.com/new-arrivals?utm_source=pinpoint&utm_campaign={slug}&ref=hero"
            ),
            "https://shop.example.com/account".to_string(),
            format!("https://blog.example.com/stories/{slug}?utm_content=footer"),
        ];
        let c = Campaign {
            kind,
            id,
            treatments,
            runs: 1,
            subject: self.rng.pick::<&str>(SUBJECTS),
            links,
            push_type: if self.rng.chance(0.5) { "GCM" } else { "APNS" },
        };
        if kind != Kind::Transactional {
            self.stats.campaigns += 1;
        }
        self.campaigns.push(c.clone());
        c
    }

    fn endpoint_id(&self, ep: u64) -> String {
        // Stable per endpoint number, independent of the rng stream.
        let h = ep.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ self.opts.seed;
        format!("ep-{:016x}-{:06}", h, ep)
    }

    fn email_address(&mut self, ep: u64) -> String {
        let h = ep.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ self.opts.seed;
        let domain = DOMAINS[(h % DOMAINS.len() as u64) as usize].0;
        format!("user{ep}@{domain}")
    }

    fn phone(&self, ep: u64) -> String {
        format!("+1425555{:04}", ep % 10_000)
    }

    fn emit(&mut self, arrival_ms: i64, record: Value) {
        let line = record.to_string();
        self.stats.records += 1;
        if self.rng.chance(0.004) {
            // At-least-once delivery: the same bytes again, a little later.
            self.out
                .push((arrival_ms + self.rng.range(1_000, 600_000), line.clone()));
            self.stats.records += 1;
            self.stats.duplicates += 1;
        }
        self.since_malformed += 1;
        if self.since_malformed >= 4_000 {
            self.since_malformed = 0;
            let bad = match self.stats.malformed % 4 {
                0 => line[..line.len() / 2].to_string(),
                1 => "ERROR 503 Service Unavailable <html><body>busy</body></html>".to_string(),
                2 => line.replacen(
                    "\"event_timestamp\":",
                    "\"event_timestamp\":\"not-a-time\",\"x\":",
                    1,
                ),
                _ => "{\"hello\":\"world\"}".to_string(),
            };
            self.out.push((arrival_ms + 1, bad));
            self.stats.records += 1;
            self.stats.malformed += 1;
        }
        self.out.push((arrival_ms, line));
    }

    fn base(
        &self,
        event_type: &str,
        event_ms: i64,
        arrival_ms: i64,
        app: usize,
        client: &str,
        attributes: Value,
    ) -> Value {
        json!({
            "event_type": event_type,
            "event_timestamp": event_ms,
            "arrival_timestamp": arrival_ms,
            "event_version": "3.1",
            "application": {"app_id": self.apps[app], "sdk": {}},
            "client": {"client_id": client},
            "device": {"platform": {}},
            "session": {},
            "attributes": attributes,
            "awsAccountId": ACCOUNT,
        })
    }

    fn target(&mut self, c: &Campaign, run_id: &str, ep: u64, send_ms: i64) {
        let app = (c.id.as_bytes()[0] % 2) as usize;
        let endpoint = self.endpoint_id(ep);
        let treatment = if c.treatments > 1 {
            (ep % c.treatments as u64).to_string()
        } else {
            "0".to_string()
        };
        match c.kind {
            Kind::Transactional => {
                let client = self.rng.uuid();
                let attrs = json!({});
                self.email_message(c, ep, send_ms, app, &client, attrs, 1.0);
                return;
            }
            Kind::Journey => {
                let journey_attrs = json!({
                    "journey_id": c.id,
                    "journey_activity_id": format!("{}-a1", &c.id[..8]),
                    "journey_run_id": run_id,
                });
                let mut send_attrs = journey_attrs.clone();
                send_attrs["journey_send_status"] = json!("SUCCESS");
                send_attrs["delivery_type"] = json!("EMAIL");
                let rec = self.base(
                    "_journey.send",
                    send_ms,
                    send_ms + 40,
                    app,
                    &endpoint,
                    send_attrs,
                );
                self.emit(send_ms + 40, rec);
                self.email_message(c, ep, send_ms, app, &endpoint, journey_attrs, 1.0);
                return;
            }
            _ => {}
        }
        let delivery_type = match c.kind {
            Kind::Email => "EMAIL",
            Kind::Sms => "SMS",
            _ => c.push_type,
        };
        let status = *self.rng.weighted(SEND_STATUSES);
        let attrs = json!({
            "campaign_id": c.id,
            "campaign_activity_id": run_id,
            "treatment_id": treatment,
        });
        let mut send_attrs = attrs.clone();
        send_attrs["campaign_send_status"] = json!(status);
        send_attrs["delivery_type"] = json!(delivery_type);
        let rec = self.base(
            "_campaign.send",
            send_ms,
            send_ms + 60,
            app,
            &endpoint,
            send_attrs,
        );
        self.emit(send_ms + 60, rec);
        if status != "SUCCESS" {
            return;
        }
        match c.kind {
            Kind::Email => {
                // Treatment 1 has the better subject line.
                let lift = if treatment == "1" { 1.3 } else { 1.0 };
                self.email_message(c, ep, send_ms, app, &endpoint, attrs, lift);
            }
            Kind::Sms => self.sms_message(ep, send_ms, app, &endpoint, attrs),
            Kind::Push => self.push_message(send_ms, app, &endpoint, attrs),
            _ => {}
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn email_message(
        &mut self,
        c: &Campaign,
        ep: u64,
        send_ms: i64,
        app: usize,
        client: &str,
        attrs: Value,
        lift: f64,
    ) {
        self.stats.messages += 1;
        let message_id = format!("0100{}-{}-000000", self.rng.hex(12), self.rng.uuid());
        let to = self.email_address(ep);
        let mail = json!({
            "message_id": message_id,
            "message_send_timestamp": send_ms,
            "from_address": FROM,
            "destination": [to],
            "headers_truncated": false,
            "headers": [
                {"name": "From", "value": FROM},
                {"name": "To", "value": to},
                {"name": "Subject", "value": c.subject},
                {"name": "MIME-Version", "value": "1.0"},
            ],
            "common_headers": {"from": FROM, "to": [to], "subject": c.subject},
        });
        let ev = |me: &Self, event_type: &str, arrival: i64, extra: Option<(&str, Value)>| {
            let mut mail_event = json!({"mail": mail});
            if let Some((k, v)) = extra {
                mail_event[k] = v;
            }
            let mut rec = me.base(event_type, send_ms, arrival, app, client, attrs.clone());
            rec["facets"] = json!({"email_channel": {"mail_event": mail_event}});
            rec
        };
        let send_arrival = send_ms + self.rng.range(80, 400);
        let rec = ev(self, "_email.send", send_arrival, Some(("send", json!({}))));
        self.emit(send_arrival, rec);

        let r = self.rng.unit();
        if r < 0.02 {
            let at = send_arrival + self.rng.range(2_000, 300_000);
            let bounce = json!({
                "bounce_type": "Permanent", "bounce_sub_type": "General",
                "bounced_recipients": [{"email_address": to, "action": "failed", "status": "5.1.1", "diagnostic_code": "smtp; 550 5.1.1 user unknown"}],
                "timestamp": at, "feedback_id": self.rng.hex(24), "reporting_mta": "dsn; a1-2.smtp-out.amazonses.com",
            });
            let rec = ev(self, "_email.hardbounce", at, Some(("bounce", bounce)));
            self.emit(at, rec);
            return;
        }
        if r < 0.025 {
            let at = send_arrival + self.rng.range(500, 5_000);
            let rec = ev(
                self,
                "_email.rejected",
                at,
                Some(("reject", json!({"reason": "Bad content"}))),
            );
            self.emit(at, rec);
            return;
        }
        let mut delivered_at = send_arrival + self.rng.delay_ms(3_000.0) + 300;
        if r < 0.05 {
            let at = send_arrival + self.rng.range(2_000, 600_000);
            let bounce = json!({
                "bounce_type": "Transient", "bounce_sub_type": "MailboxFull",
                "bounced_recipients": [{"email_address": to, "action": "delayed", "status": "4.2.2", "diagnostic_code": "smtp; 452 4.2.2 mailbox full"}],
                "timestamp": at, "feedback_id": self.rng.hex(24), "reporting_mta": "dsn; a1-2.smtp-out.amazonses.com",
            });
            let rec = ev(self, "_email.softbounce", at, Some(("bounce", bounce)));
            self.emit(at, rec);
            if self.rng.chance(0.5) {
                return;
            }
            // Retried and delivered hours later.
            delivered_at = at + self.rng.range(HOUR_MS, 6 * HOUR_MS);
        }
        let delivery = json!({"smtp_response": "250 ok dirdel", "reporting_mta": "a8-70.smtp-out.amazonses.com", "processing_time_millis": delivered_at - send_ms, "recipients": [to]});
        let rec = ev(
            self,
            "_email.delivered",
            delivered_at,
            Some(("delivery", delivery)),
        );
        self.emit(delivered_at, rec);

        if self.rng.chance(0.002) {
            let at = delivered_at + self.rng.range(60_000, DAY_MS);
            let complaint = json!({"complained_recipients": [{"email_address": to}], "complaint_feedback_type": "abuse", "timestamp": at, "feedback_id": self.rng.hex(24)});
            let rec = ev(self, "_email.complaint", at, Some(("complaint", complaint)));
            self.emit(at, rec);
        }
        // Privacy proxies fetch images on delivery: an open within seconds.
        if self.rng.chance(0.08) {
            let at = delivered_at + self.rng.range(200, 3_000);
            let open =
                json!({"ip_address": "17.58.0.1", "user_agent": self.rng.pick(MACHINE_AGENTS)});
            let rec = ev(self, "_email.open", at, Some(("open", open)));
            self.emit(at, rec);
        }
        if !self.rng.chance(0.28 * lift) {
            return;
        }
        let ua = *self.rng.weighted(USER_AGENTS);
        let ip = format!("198.51.100.{}", ep % 250 + 1);
        let mut at = delivered_at + self.rng.delay_ms(5.0 * HOUR_MS as f64);
        if self.rng.chance(0.1) {
            at += self.rng.range(1, 5) * DAY_MS;
        }
        let opens = 1 + (self.rng.unit() * self.rng.unit() * 4.0) as i64;
        let mut last = at;
        for i in 0..opens {
            let t = at + i * self.rng.range(60_000, 2 * DAY_MS);
            last = last.max(t);
            let rec = ev(
                self,
                "_email.open",
                t,
                Some(("open", json!({"ip_address": ip, "user_agent": ua}))),
            );
            self.emit(t, rec);
        }
        if self.rng.chance(0.3 * lift.min(1.2)) {
            let clicks = 1 + (self.rng.unit() * self.rng.unit() * 3.0) as i64;
            for _ in 0..clicks {
                let t = at + self.rng.range(5_000, 600_000);
                let link = self.rng.pick(&c.links).clone();
                let rec = ev(
                    self,
                    "_email.click",
                    t,
                    Some((
                        "click",
                        json!({"ip_address": ip, "user_agent": ua, "link": link}),
                    )),
                );
                self.emit(t, rec);
            }
        }
        if self.rng.chance(0.01) {
            let t = last + self.rng.range(10_000, 120_000);
            let link = format!("https://mail.example.com/unsubscribe?u={ep}");
            let rec = ev(
                self,
                "_email.unsubscribe",
                t,
                Some((
                    "click",
                    json!({"ip_address": ip, "user_agent": ua, "link": link}),
                )),
            );
            self.emit(t, rec);
        }
    }

    fn sms_message(&mut self, ep: u64, send_ms: i64, app: usize, client: &str, attrs: Value) {
        self.stats.messages += 1;
        let message_id = self.rng.uuid();
        let country = *self.rng.weighted(COUNTRIES);
        let parts = if self.rng.chance(0.2) { 2 } else { 1 };
        let price = 645.0 * parts as f64 * if country == "US" { 1.0 } else { 4.2 };
        let sms = |me: &Self, event_type: &str, arrival: i64, status: &str| {
            let mut a = attrs.clone();
            a["sender_request_id"] = json!(format!("req-{}", &message_id[..8]));
            a["origination_phone_number"] = json!("+12065550142");
            a["destination_phone_number"] = json!(me.phone(ep));
            a["record_status"] = json!(status);
            a["iso_country_code"] = json!(country);
            a["number_of_message_parts"] = json!(parts.to_string());
            a["message_id"] = json!(message_id);
            a["message_type"] = json!("Promotional");
            let mut rec = me.base(event_type, send_ms, arrival, app, client, a);
            rec["metrics"] = json!({"price_in_millicents_usd": price});
            rec
        };
        let buffered_at = send_ms + self.rng.range(200, 2_000);
        let rec = sms(self, "_SMS.BUFFERED", buffered_at, "PENDING");
        self.emit(buffered_at, rec);
        let done_at = buffered_at + self.rng.delay_ms(8_000.0) + 500;
        if self.rng.chance(0.92) {
            let rec = sms(self, "_SMS.SUCCESS", done_at, "DELIVERED");
            self.emit(done_at, rec);
            if self.rng.chance(0.01) {
                let t = done_at + self.rng.range(60_000, DAY_MS);
                let rec = sms(self, "_SMS.OPTOUT", t, "OPTED_OUT");
                self.emit(t, rec);
            }
        } else {
            let status = *self.rng.pick(SMS_FAILURES);
            let rec = sms(self, "_SMS.FAILURE", done_at, status);
            self.emit(done_at, rec);
        }
    }

    fn push_message(&mut self, send_ms: i64, app: usize, client: &str, attrs: Value) {
        self.stats.messages += 1;
        if self.rng.chance(0.7) {
            let t = send_ms + self.rng.range(500, 60_000);
            let kind = if self.rng.chance(0.3) {
                "_campaign.received_foreground"
            } else {
                "_campaign.received_background"
            };
            let rec = self.base(kind, t, t + 300, app, client, attrs.clone());
            self.emit(t + 300, rec);
        }
        if self.rng.chance(0.08) {
            let t = send_ms + self.rng.delay_ms(2.0 * HOUR_MS as f64) + 1_000;
            let rec = self.base(
                "_campaign.opened_notification",
                t,
                t + 300,
                app,
                client,
                attrs,
            );
            self.emit(t + 300, rec);
        }
    }
}
