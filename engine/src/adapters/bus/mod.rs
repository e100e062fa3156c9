//! Bus adapters: RabbitMQ (production) and in-process channels (embedded default).

pub mod inprocess;
pub mod rabbitmq;

/// AMQP topic matching: words split on `.`, `*` is exactly one word, `#` is zero or more.
/// The in-process bus routes with the same rules RabbitMQ applies, so bindings written
/// for one work on the other.
pub fn topic_matches(pattern: &str, key: &str) -> bool {
    fn go(p: &[&str], k: &[&str]) -> bool {
        match (p.first(), k.first()) {
            (None, None) => true,
            (Some(&"#"), _) => go(&p[1..], k) || (!k.is_empty() && go(p, &k[1..])),
            (Some(&"*"), Some(_)) => go(&p[1..], &k[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &k[1..]),
            _ => false,
        }
    }
    let p: Vec<&str> = pattern.split('.').collect();
    let k: Vec<&str> = key.split('.').collect();
    go(&p, &k)
}

#[cfg(test)]
mod tests {
    use super::topic_matches;

    #[test]
    fn amqp_topic_rules() {
        assert!(topic_matches("#", "order.paid"));
        assert!(topic_matches("order.*", "order.paid"));
        assert!(!topic_matches("order.*", "order.paid.late"));
        assert!(topic_matches("order.#", "order.paid.late"));
        assert!(topic_matches("order.#", "order"));
        assert!(topic_matches("*.paid", "order.paid"));
        assert!(!topic_matches("offer.*", "order.paid"));
        assert!(topic_matches("person.created", "person.created"));
    }
}
