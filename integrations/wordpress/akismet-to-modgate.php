<?php
/**
 * Plugin Name: Akismet to modgate
 * Description: Sends the Akismet plugin's calls to modgate (MODGATE_URL) instead of rest.akismet.com.
 * Version:     0.2.0
 * License:     GPL-2.0-or-later
 * License URI: https://www.gnu.org/licenses/gpl-2.0.html
 *
 * Copy to wp-content/mu-plugins/, define MODGATE_URL in wp-config.php
 * (e.g. 'https://modgate.example'), and give Akismet a modgate cms key
 * of 12 characters as its API key (README, "Connecting a CMS").
 *
 * Only Akismet's host is redirected: a request to rest.akismet.com or
 * KEY.rest.akismet.com, or one sent with "Host: rest.akismet.com" (Akismet
 * calls its servers by address too). Of those, only Akismet's own calls
 * (POST or GET /1.1/ and one of AKISMET_TO_MODGATE_CALLS, no port, no
 * user, KEY a single label) are re-issued to MODGATE_URL with the same
 * path, query, body and options (Akismet's 15-second timeout), without
 * the forced Host, and modgate's answer is returned as it came, headers
 * included. Anything else for that host (another path, "..", a deeper
 * name) gets a WP_Error and reaches nobody. Without MODGATE_URL such a
 * request fails rather than reach Akismet: Akismet then keeps the
 * comment pending and checks it again later.
 *
 * Akismet's settings page shows statistics in frames from
 * tools.akismet.com whose address carries the API key, here modgate's
 * key: the "Detailed Stats" view is sent back to the settings page, and
 * that page may load no frame from another origin (Content-Security-Policy).
 */

defined( 'ABSPATH' ) || exit;

/** The calls of Akismet 5.0.2 (Akismet::http_post's paths) that go to modgate. */
const AKISMET_TO_MODGATE_CALLS = array( 'verify-key', 'comment-check', 'submit-spam', 'submit-ham', 'get-subscription', 'get-stats', 'deactivate', 'test' );

add_filter( 'pre_http_request', function ( $pre, $args, $url ) {
	$parts   = wp_parse_url( $url );
	$parts   = is_array( $parts ) ? $parts : array();
	$host    = strtolower( (string) ( $parts['host'] ?? '' ) );
	$headers = array_change_key_case( (array) ( $args['headers'] ?? array() ) );
	$forced  = strtolower( (string) ( $headers['host'] ?? '' ) );
	// Akismet's host in any spelling (a trailing dot, a port in Host) is ours: it is answered here or refused
	$ours = 1 === preg_match( '/(^|\.)rest\.akismet\.com\.?$/', $host ) || 1 === preg_match( '/^rest\.akismet\.com\.?(:\d+)?$/', $forced );
	if ( false !== $pre || ! $ours ) {
		return $pre;
	}
	if ( ! defined( 'MODGATE_URL' ) || ! MODGATE_URL ) {
		return new WP_Error( 'modgate_url_missing', 'Akismet to modgate: MODGATE_URL is not defined.' );
	}
	// KEY.rest.akismet.com: one label of letters and digits (Akismet's keys are hex)
	$named = 1 === preg_match( '/^(?:([a-z0-9]{1,64})\.)?rest\.akismet\.com$/', $host, $m );
	$key   = $named ? (string) ( $m[1] ?? '' ) : '';
	$path  = (string) ( $parts['path'] ?? '' );
	$call  = 1 === preg_match( '#^/1\.1/([a-z-]+)$#', $path, $c ) && in_array( $c[1], AKISMET_TO_MODGATE_CALLS, true );
	$plain = ! isset( $parts['port'] ) && ! isset( $parts['user'] ) && ! isset( $parts['pass'] ) && ! isset( $parts['fragment'] );
	// a forced Host (Akismet's call by address) carries no key in the URL's host
	if ( ! ( $named || 'rest.akismet.com' === $forced ) || ! $call || ! $plain ) {
		return new WP_Error( 'modgate_refused', 'Akismet to modgate: only Akismet\'s own calls are forwarded.' );
	}
	// KEY.rest.akismet.com carries the key in the host name: give it to modgate in the body.
	if ( '' !== $key && is_array( $args['body'] ?? null ) ) {
		$args['body'] += array( 'api_key' => $key );
	} elseif ( '' !== $key && ! preg_match( '/(^|&)(api_)?key=/', (string) ( $args['body'] ?? '' ) ) ) {
		$args['body'] = ltrim( ( $args['body'] ?? '' ) . '&api_key=' . rawurlencode( $key ), '&' );
	}
	unset( $headers['host'] );
	$args['headers'] = $headers;
	$query           = (string) ( $parts['query'] ?? '' );
	return wp_remote_request( untrailingslashit( MODGATE_URL ) . $path . ( '' !== $query ? '?' . $query : '' ), $args );
}, 10, 3 );

/*
 * Akismet's settings page (Settings > Akismet Anti-Spam, or under
 * Jetpack): its stats view is one frame from tools.akismet.com with
 * api_key= in the address, and its main view may show another. Both would
 * hand modgate's key to Automattic from the admin's browser.
 */
add_action( 'admin_init', function () {
	// phpcs:ignore WordPress.Security.NonceVerification.Recommended -- a page view, nothing is changed
	$page = isset( $_GET['page'] ) && is_string( $_GET['page'] ) ? sanitize_key( wp_unslash( $_GET['page'] ) ) : '';
	if ( 'akismet-key-config' !== $page && 'akismet-stats-display' !== $page ) {
		return;
	}
	// phpcs:ignore WordPress.Security.NonceVerification.Recommended
	if ( isset( $_GET['view'] ) && 'stats' === $_GET['view'] ) {
		wp_safe_redirect( remove_query_arg( 'view' ) );
		exit;
	}
	header( "Content-Security-Policy: frame-src 'self'" );
}, 0 );
