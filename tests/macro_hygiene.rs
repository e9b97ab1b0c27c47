//! The expansion of `#[circuit_breaker]` depends on none of the user's names: it compiles
//! next to local `core`, `std`, `breaker` and `async_breaker` modules, user types called `Result`, `Ok`,
//! `Err`, `Option`, `Clone`, `Future`, `Duration` and friends, a blanket trait with the
//! methods the expansion calls, and inside a module without the prelude.

/// Everything the expansion could accidentally pick up, shadowed.
mod shadowed {
    #![allow(dead_code, non_camel_case_types, clippy::upper_case_acronyms)]

    mod core {}
    mod std {}
    mod breaker {}
    mod async_breaker {}

    struct Result;
    struct Option;
    struct Ok;
    struct Err;
    struct Some;
    struct Duration;
    struct Builder;
    struct Name;
    struct Outcome;
    struct OnceCell;
    trait Clone {}
    trait Future {}
    trait From {}
    trait ReturnType {}
    trait Fallback {}
    trait Same {}
    struct Permit;
    struct Window;
    struct Jitter;

    /// A trait in scope for every type, with the method names the expansion calls (other
    /// than its own `__breaker_...` ones: that prefix is reserved).
    trait Sneaky {
        fn kind(&self) -> u8 {
            0
        }
        fn error(&self) -> u8 {
            0
        }
        fn get_or_init(&self) -> u8 {
            0
        }
        fn try_acquire(&self) -> u8 {
            0
        }
        fn err(&self) -> u8 {
            0
        }
        fn run(&self) -> u8 {
            0
        }
        fn run_with(&self) -> u8 {
            0
        }
        fn future(&self) -> u8 {
            0
        }
        fn same(&self) -> u8 {
            0
        }
        fn shared(&self) -> u8 {
            0
        }
    }
    impl<T: ?Sized> Sneaky for T {}

    use ::async_breaker::{BreakerError, circuit_breaker};

    type Answer = ::core::result::Result<u32, BreakerError>;

    fn classify(result: &Answer) -> ::async_breaker::Outcome {
        ::async_breaker::Outcome::of(result)
    }

    fn hook(_: &str, _: ::async_breaker::State, _: ::async_breaker::State) {}

    #[circuit_breaker(
        timeout = "1s",
        interval = ::core::time::Duration::from_secs(10),
        max_requests = 2,
        failure_ratio = 0.5,
        min_requests = 2,
        classify = classify,
        on_state_change = hook,
        fallback = cached
    )]
    pub(crate) async fn fetch(id: u32, (a, b): (u32, u32)) -> Answer {
        ::core::result::Result::Ok(id + a + b)
    }

    async fn cached(_id: u32, _pair: (u32, u32)) -> Answer {
        ::core::result::Result::Ok(0)
    }

    #[circuit_breaker(
        window = "1m",
        buckets = 6,
        slow_call = "1s",
        slow_call_ratio = 0.5,
        backoff = 2.0,
        max_reset_timeout = "10m",
        jitter = "equal"
    )]
    pub(crate) async fn windowed(id: u32) -> Answer {
        ::core::result::Result::Ok(id)
    }

    #[circuit_breaker(window_calls = 10)]
    pub(crate) async fn counted(id: u32) -> Answer {
        ::core::result::Result::Ok(id)
    }

    #[cfg(feature = "redis")]
    #[circuit_breaker(name = "hygiene::shared", shared = true, window_calls = 10)]
    pub(crate) async fn shared(id: u32) -> Answer {
        ::core::result::Result::Ok(id)
    }

    pub(crate) struct Client;

    impl Client {
        #[circuit_breaker(name = "hygiene::method", fallback = cached)]
        pub(crate) async fn get(&self, id: u32) -> ::std::io::Result<u32> {
            ::core::result::Result::Ok(id)
        }

        async fn cached(&self, _id: u32) -> ::std::io::Result<u32> {
            ::core::result::Result::Ok(0)
        }
    }
}

/// No prelude at all: every name the expansion uses must be a full path.
mod no_prelude {
    #![no_implicit_prelude]

    #[::async_breaker::circuit_breaker(timeout = "1s", consecutive_failures = 2, fallback = cached)]
    pub(crate) async fn fetch(
        id: u32,
    ) -> ::core::result::Result<u32, ::async_breaker::BreakerError> {
        ::core::result::Result::Ok(id)
    }

    async fn cached(_id: u32) -> ::core::result::Result<u32, ::async_breaker::BreakerError> {
        ::core::result::Result::Ok(0)
    }

    #[::async_breaker::circuit_breaker(key = host, max_keys = 8, fallback = cached_at)]
    pub(crate) async fn fetch_at(
        host: &str,
        id: u32,
    ) -> ::core::result::Result<u32, ::async_breaker::BreakerError> {
        ::core::result::Result::Ok(id)
    }

    async fn cached_at(
        _host: &str,
        _id: u32,
    ) -> ::core::result::Result<u32, ::async_breaker::BreakerError> {
        ::core::result::Result::Ok(0)
    }

    #[cfg(feature = "redis")]
    #[::async_breaker::circuit_breaker(shared = true, fallback = cached)]
    pub(crate) async fn fetch_shared(
        id: u32,
    ) -> ::core::result::Result<u32, ::async_breaker::BreakerError> {
        ::core::result::Result::Ok(id)
    }
}

#[tokio::test]
async fn shadowed_names_do_not_reach_the_expansion() {
    assert_eq!(shadowed::fetch(1, (2, 3)).await.unwrap(), 6);
    assert_eq!(shadowed::windowed(7).await.unwrap(), 7);
    assert_eq!(shadowed::counted(8).await.unwrap(), 8);
    assert_eq!(shadowed::Client.get(4).await.unwrap(), 4);
    assert_eq!(no_prelude::fetch(5).await.unwrap(), 5);
    assert_eq!(no_prelude::fetch_at("ab", 5).await.unwrap(), 5);
    #[cfg(feature = "redis")]
    {
        assert_eq!(shadowed::shared(9).await.unwrap(), 9);
        assert_eq!(no_prelude::fetch_shared(6).await.unwrap(), 6);
    }
}
