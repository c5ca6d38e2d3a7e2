//! Reporting a failed cold start to the Lambda Runtime API (`POST /runtime/init/error`), so that
//! Lambda shows the reason instead of a bare "Runtime exited".

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Posts `{"errorType": error_type, "errorMessage": message}` to
/// `http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/init/error`. Best effort: does nothing
/// outside Lambda, and a failure to report is ignored (the process exits either way).
pub fn report_init_error(error_type: &str, message: &str) {
    let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") else {
        return;
    };
    let body = serde_json::json!({ "errorType": error_type, "errorMessage": message }).to_string();
    let request = format!(
        "POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: {api}\r\n\
         Content-Type: application/json\r\nLambda-Runtime-Function-Error-Type: {error_type}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let Ok(mut stream) = TcpStream::connect(&api) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream.write_all(request.as_bytes()).is_ok() {
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
    }
}
