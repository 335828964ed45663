<?php
/**
 * Plugin Name: Akismet to modgate
 * Description: Sends the Akismet plugin's calls to modgate (MODGATE_URL) instead of rest.akismet.com.
 * Version:     0.1.0
 * License:     GPL-2.0-or-later
 * License URI: https://www.gnu.org/licenses/gpl-2.0.html
 *
 * Copy to wp-content/mu-plugins/, define MODGATE_URL in wp-config.php
 * (e.g. 'https://modgate.example'), and give Akismet a modgate cms key
 * of 12 characters as its API key (README, "Connecting a CMS").
 *
 * Only Akismet's host is redirected: a request to rest.akismet.com or
 * KEY.rest.akismet.com, or one sent with "Host: rest.akismet.com" (Akismet
 * calls its servers by address too). The request is re-issued to
 * MODGATE_URL with the same path, body and options (Akismet's 15-second
 * timeout), without the forced Host, and modgate's answer is returned as
 * it came, headers included. Without MODGATE_URL such a request fails
 * rather than reach Akismet: Akismet then keeps the comment pending and
 * checks it again later.
 */

defined( 'ABSPATH' ) || exit;

add_filter( 'pre_http_request', function ( $pre, $args, $url ) {
	$host    = strtolower( (string) wp_parse_url( $url, PHP_URL_HOST ) );
	$headers = array_change_key_case( (array) ( $args['headers'] ?? array() ) );
	$ours    = 'rest.akismet.com' === $host || str_ends_with( $host, '.rest.akismet.com' )
		|| 'rest.akismet.com' === strtolower( (string) ( $headers['host'] ?? '' ) );
	if ( false !== $pre || ! $ours ) {
		return $pre;
	}
	if ( ! defined( 'MODGATE_URL' ) || ! MODGATE_URL ) {
		return new WP_Error( 'modgate_url_missing', 'Akismet to modgate: MODGATE_URL is not defined.' );
	}
	// KEY.rest.akismet.com carries the key in the host name: give it to modgate in the body.
	$key = str_ends_with( $host, '.rest.akismet.com' ) ? substr( $host, 0, -strlen( '.rest.akismet.com' ) ) : '';
	if ( '' !== $key && is_array( $args['body'] ?? null ) ) {
		$args['body'] += array( 'api_key' => $key );
	} elseif ( '' !== $key && ! preg_match( '/(^|&)(api_)?key=/', (string) ( $args['body'] ?? '' ) ) ) {
		$args['body'] = ltrim( ( $args['body'] ?? '' ) . '&api_key=' . rawurlencode( $key ), '&' );
	}
	unset( $headers['host'] );
	$args['headers'] = $headers;
	$path            = (string) wp_parse_url( $url, PHP_URL_PATH );
	$query           = (string) wp_parse_url( $url, PHP_URL_QUERY );
	return wp_remote_request( untrailingslashit( MODGATE_URL ) . $path . ( '' !== $query ? '?' . $query : '' ), $args );
}, 10, 3 );
