//! The server against fake upstreams on 127.0.0.1, and what it decides
//! for each kind of packet.

use std::time::Instant;

use super::message::{query, TYPE_A};
use super::*;

const TYPE_AAAA: u16 = 28;

fn names() -> Names {
    let names = HashMap::from([("redis".to_owned(), Ipv4Addr::new(10, 87, 0, 2))]);
    Arc::new(Mutex::new(names))
}

#[test]
fn upstreams_are_the_nameserver_lines() {
    let conf = "# by hand\nnameserver 127.0.0.53\nsearch x\nnameserver ::1\n";
    let expected: Vec<SocketAddr> = vec![
        "127.0.0.53:53".parse().unwrap(),
        "[::1]:53".parse().unwrap(),
    ];
    assert_eq!(upstreams(conf), expected);
    assert_eq!(
        upstreams("search x\n"),
        vec!["127.0.0.1:53".parse().unwrap()]
    );
    let four = "nameserver 1.1.1.1\nnameserver fe80::1%1\nnameserver nonsense\nnameserver 8.8.8.8\nnameserver 9.9.9.9";
    let found = upstreams(four);
    assert_eq!(found.len(), 3);
    assert_eq!(
        found[1],
        SocketAddr::V6(SocketAddrV6::new("fe80::1".parse().unwrap(), 53, 0, 1))
    );
}

#[test]
fn session_names_are_answered_here_under_every_type() {
    let packet = query(7, "ReDiS.", TYPE_A);
    let Decision::Reply(reply) = decide(&packet, &names()) else {
        panic!("redis is a session name");
    };
    assert_eq!(&reply[6..8], [0, 1], "one answer");
    assert_eq!(&reply[reply.len() - 4..], [10, 87, 0, 2]);
    let Decision::Reply(reply) = decide(&query(8, "redis", TYPE_AAAA), &names()) else {
        panic!("redis is a session name");
    };
    assert_eq!(
        (reply[3] & 0x0F, &reply[6..8]),
        (0, &[0, 0][..]),
        "NOERROR, no answer"
    );
}

#[test]
fn other_names_go_upstream_and_broken_packets_nowhere() {
    let names = names();
    assert!(matches!(
        decide(&query(1, "redis.example.com", TYPE_A), &names),
        Decision::Forward(..)
    ));
    let mut chaos = query(1, "redis", TYPE_A);
    let last = chaos.len() - 1;
    chaos[last] = 3; // class CH
    assert!(matches!(decide(&chaos, &names), Decision::Forward(..)));
    assert_eq!(decide(&[0x12, 0x34, 0x01], &names), Decision::Drop);
    let Decision::Reply(formerr) = decide(&query(1, "redis", TYPE_A)[..14], &names) else {
        panic!("a header is enough for a FORMERR");
    };
    assert_eq!(formerr[3] & 0x0F, message::FORMERR);
}

/// A fake upstream that answers every query with an A record, after a
/// second if the name starts with `slow`; and one that never answers.
async fn upstream(answers: bool) -> SocketAddr {
    let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let address = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buffer = [0; 512];
        while let Ok((length, asker)) = socket.recv_from(&mut buffer).await {
            let mut reply = buffer[..length].to_vec();
            reply[2..4].copy_from_slice(&[0x81, 0x80]);
            reply[6..8].copy_from_slice(&[0, 1]);
            reply.extend_from_slice(
                b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x01\x2c\x00\x04\x5d\xb8\xd7\x0e",
            );
            let (socket, slow) = (Arc::clone(&socket), reply[13..].starts_with(b"slow"));
            tokio::spawn(async move {
                if slow {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                if answers {
                    let _ = socket.send_to(&reply, asker).await;
                }
            });
        }
    });
    address
}

/// A server on 127.0.0.1, and a client socket to ask it from.
async fn server(upstreams: Vec<SocketAddr>) -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client.connect(socket.local_addr().unwrap()).await.unwrap();
    tokio::spawn(serve(socket, names(), upstreams));
    client
}

async fn reply(client: &UdpSocket) -> Vec<u8> {
    let mut reply = vec![0; 512];
    let length = tokio::time::timeout(Duration::from_secs(5), client.recv(&mut reply)).await;
    reply.truncate(length.expect("a reply in time").unwrap());
    reply
}

#[tokio::test]
async fn unknown_names_are_relayed_from_upstream_as_they_come() {
    let refused = UdpSocket::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let client = server(vec![refused, upstream(true).await]).await;
    let started = Instant::now();
    let asked = query(0x4242, "example.com", TYPE_A);
    client.send(&asked).await.unwrap();
    let relayed = reply(&client).await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "nothing listens on the first"
    );
    assert_eq!(&relayed[..4], [0x42, 0x42, 0x81, 0x80]);
    assert_eq!(&relayed[12..asked.len()], &asked[12..]);
    assert_eq!(&relayed[relayed.len() - 4..], [93, 184, 215, 14]);
    client.send(&query(1, "redis", TYPE_A)).await.unwrap();
    assert_eq!(
        &reply(&client).await[2..4],
        [0x85, 0x80],
        "a session name is not forwarded"
    );
}

#[tokio::test]
async fn a_slow_upstream_holds_up_only_its_own_query() {
    let client = server(vec![upstream(true).await]).await;
    client
        .send(&query(1, "slow.example.com", TYPE_A))
        .await
        .unwrap();
    client
        .send(&query(2, "fast.example.com", TYPE_A))
        .await
        .unwrap();
    assert_eq!(&reply(&client).await[..2], [0, 2]);
    assert_eq!(&reply(&client).await[..2], [0, 1]);
}

#[tokio::test]
async fn no_answer_upstream_is_a_servfail() {
    let client = server(vec![upstream(false).await]).await;
    let started = Instant::now();
    client.send(&query(9, "example.com", TYPE_A)).await.unwrap();
    let failed = reply(&client).await;
    assert!(started.elapsed() >= UPSTREAM_TIMEOUT);
    assert_eq!(&failed[..4], [0, 9, 0x81, 0x82]);
}
