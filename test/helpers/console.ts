// Signing in to a running router's console over plain HTTP (the browser suites type the token).

/** POST /console/sign-in with a token; the answer (a redirect with the session cookie, or a refusal). */
export function signIn(url: string, token: string, next = '/console'): Promise<Response> {
  return fetch(`${url}/console/sign-in`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token, next }).toString(),
    redirect: 'manual',
  });
}

/** The `b3os_console=…` session cookie an answer sets, to send back as `cookie`. */
export const cookieOf = (res: Response) => /b3os_console=[^;]+/.exec(res.headers.get('set-cookie') ?? '')?.[0];

/** The form token (CSRF) a console page carries, to post its forms with; undefined when it has none. */
export const csrfOf = (page: string) => /name="_csrf" value="([^"]+)"/.exec(page)?.[1];
