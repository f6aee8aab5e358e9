// Log settings shared by every thread. Belt and braces: none of these paths is ever logged, even
// if a future line passes them.
export const LOG_REDACT = { paths: ['req.headers', 'headers', 'secret', 'token', 'password', 'body', 'payload'], remove: true };
