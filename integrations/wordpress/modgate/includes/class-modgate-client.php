<?php
/**
 * Modgate_Client - modgate's HTTP API, through WordPress's HTTP API
 * (wp_remote_request): /v1/check, /v1/learn, moderators' actions, the
 * events feed, form tokens and /v1/whoami.
 *
 * @package modgate
 */

defined( 'ABSPATH' ) || exit;

/**
 * Every call returns either a WP_Error (no answer: connection refused,
 * timeout, DNS) or array( 'status' => HTTP status, 'body' => the decoded
 * JSON object or null ). Callers decide what a status means.
 */
final class Modgate_Client {

	/**
	 * Seconds to wait for modgate on a comment, a learn or a feed page: a
	 * reader's comment form must not hang when modgate does (it answers a
	 * check in about a millisecond; 3 s leaves room for a slow network).
	 */
	const TIMEOUT = 3;

	/**
	 * Seconds for a form token while a page renders: every page with a
	 * comment form pays it when modgate is slow, so it is shorter still.
	 */
	const FORM_TOKEN_TIMEOUT = 1;

	/**
	 * One request to modgate. 'path' starts with '/'; 'body' is sent as
	 * JSON when not null; 'auth' adds the cms key as a Bearer token.
	 *
	 * @param string     $method  GET or POST.
	 * @param string     $path    Path and query.
	 * @param array|null $body    Request body.
	 * @param float      $timeout Seconds.
	 * @param bool       $auth    Send the key.
	 * @return array|WP_Error
	 */
	public static function request( string $method, string $path, ?array $body = null, float $timeout = self::TIMEOUT, bool $auth = true ) {
		$url = rtrim( (string) Modgate_Settings::get( 'url' ), '/' ) . $path;
		$args = array(
			'method'      => $method,
			'timeout'     => $timeout,
			'redirection' => 0,
			'headers'     => array(
				'Accept'     => 'application/json',
				'User-Agent' => 'modgate-wordpress/' . MODGATE_PLUGIN_VERSION . '; WordPress/' . get_bloginfo( 'version' ),
			),
		);
		if ( $auth ) {
			$args['headers']['Authorization'] = 'Bearer ' . Modgate_Settings::get( 'key' );
		}
		if ( null !== $body ) {
			$args['headers']['Content-Type'] = 'application/json';
			$args['body']                    = wp_json_encode( $body, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE );
		}
		try {
			$r = wp_remote_request( $url, $args );
		} catch ( Throwable $e ) {
			// Another plugin's HTTP filter threw: for the comment that is no answer, never a lost request.
			return new WP_Error( 'modgate_http_exception', 'HTTP layer error: ' . get_class( $e ) );
		}
		if ( is_wp_error( $r ) ) {
			return $r;
		}
		$json = json_decode( (string) wp_remote_retrieve_body( $r ), true );
		return array(
			'status' => (int) wp_remote_retrieve_response_code( $r ),
			'body'   => is_array( $json ) ? $json : null,
		);
	}

	/**
	 * POST /v1/check.
	 *
	 * @param array $req The check request (api.md §2.1).
	 * @return array|WP_Error
	 */
	public static function check( array $req ) {
		return self::request( 'POST', '/v1/check', $req );
	}

	/**
	 * POST /v1/learn.
	 *
	 * @param array $req A comment or a comment_id, and a label (api.md §2.4).
	 * @return array|WP_Error
	 */
	public static function learn( array $req ) {
		return self::request( 'POST', '/v1/learn', $req );
	}

	/**
	 * POST /v1/sites/{site}/comments/{id}/action: what this site's
	 * moderators decided about a comment modgate holds (api.md §2.8).
	 *
	 * @param string $mid  The comment's id in modgate.
	 * @param array  $body action and from.
	 * @return array|WP_Error
	 */
	public static function act( string $mid, array $body ) {
		$path = '/v1/sites/' . rawurlencode( (string) Modgate_Settings::get( 'site' ) ) . '/comments/' . rawurlencode( $mid ) . '/action';
		return self::request( 'POST', $path, $body );
	}

	/**
	 * One page of the site's events feed after 'cursor' ('' : from the
	 * oldest event modgate still keeps).
	 *
	 * @param string $cursor The last page's next_cursor.
	 * @return array|WP_Error
	 */
	public static function events( string $cursor ) {
		$q = array( 'limit' => 100 );
		if ( '' !== $cursor ) {
			$q['after'] = $cursor;
		}
		$path = '/v1/sites/' . rawurlencode( (string) Modgate_Settings::get( 'site' ) ) . '/events?' . http_build_query( $q );
		return self::request( 'GET', $path );
	}

	/**
	 * A form token for the comment form (public: no key).
	 *
	 * @return array|WP_Error
	 */
	public static function form_token() {
		$path = '/v1/form-token?site=' . rawurlencode( (string) Modgate_Settings::get( 'site' ) );
		return self::request( 'GET', $path, null, self::FORM_TOKEN_TIMEOUT, false );
	}

	/**
	 * What the configured key is (GET /v1/whoami).
	 *
	 * @return array|WP_Error
	 */
	public static function whoami() {
		return self::request( 'GET', '/v1/whoami' );
	}

	/**
	 * Whether an answer is modgate's 200 with a JSON body.
	 *
	 * @param array|WP_Error $res An answer of request().
	 */
	public static function ok( $res ): bool {
		return ! is_wp_error( $res ) && 200 === $res['status'] && is_array( $res['body'] );
	}

	/**
	 * A short text for people saying why an answer failed: the transport
	 * error, or the HTTP status and modgate's error code and message.
	 *
	 * @param array|WP_Error $res An answer of request().
	 */
	public static function error_text( $res ): string {
		if ( is_wp_error( $res ) ) {
			return $res->get_error_message();
		}
		$err = $res['body']['error'] ?? null;
		if ( is_array( $err ) ) {
			return sprintf( 'HTTP %d %s: %s', $res['status'], (string) ( $err['code'] ?? '' ), (string) ( $err['message'] ?? '' ) );
		}
		return sprintf( 'HTTP %d', $res['status'] );
	}
}
