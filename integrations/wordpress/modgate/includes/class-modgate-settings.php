<?php
/**
 * Modgate_Settings - the plugin's settings: the option the settings page
 * writes, overridden by constants in wp-config.php.
 *
 * @package modgate
 */

defined( 'ABSPATH' ) || exit;

/**
 * One option, `modgate_settings`, holds everything the settings page
 * sets. MODGATE_URL, MODGATE_SITE and MODGATE_KEY, when defined in
 * wp-config.php, win over it (as Akismet's WPCOM_API_KEY does), so a site
 * deployed from configuration needs no clicks. A key from MODGATE_KEY
 * goes only to a URL from MODGATE_URL: the settings page, which shows
 * that key masked, cannot send it elsewhere (the page's URL is ignored).
 */
final class Modgate_Settings {

	const OPTION = 'modgate_settings';

	/** Setting => the constant that overrides it. */
	const CONSTANTS = array(
		'url'  => 'MODGATE_URL',
		'site' => 'MODGATE_SITE',
		'key'  => 'MODGATE_KEY',
	);

	/**
	 * The settings and their defaults: 'url' of the modgate service,
	 * 'site' name, 'key' (a cms key of that site), 'ip_header' (the
	 * header a trusted reverse proxy sets to the visitor's address, '' to
	 * use the connection's), 'discard' (1: blatant spam is not stored),
	 * 'decides' (1: modgate decides which comments are published: an
	 * accept is not held back by WordPress's "previously approved" or
	 * link-count rules; Modgate_Comments::wp_publishes()).
	 *
	 * @return array<string, string|int>
	 */
	public static function defaults(): array {
		return array(
			'url'       => '',
			'site'      => '',
			'key'       => '',
			'ip_header' => '',
			'discard'   => 0,
			'decides'   => 1,
		);
	}

	/**
	 * The stored option alone, with the defaults for what it lacks (the
	 * settings page shows and sanitizes this; constants are not in it).
	 *
	 * @return array<string, string|int>
	 */
	public static function stored(): array {
		$o = get_option( self::OPTION, array() );
		if ( ! is_array( $o ) ) {
			$o = array();
		}
		return array_merge( self::defaults(), array_intersect_key( $o, self::defaults() ) );
	}

	/**
	 * The settings in force: the option, overridden by the constants; no
	 * URL when the key is a constant and the URL is not (url_ignored()).
	 *
	 * @return array<string, string|int>
	 */
	public static function all(): array {
		$s = self::stored();
		foreach ( self::CONSTANTS as $name => $constant ) {
			if ( self::from_constant( $name ) ) {
				$s[ $name ] = (string) constant( $constant );
			}
		}
		if ( self::url_ignored() ) {
			$s['url'] = '';
		}
		return $s;
	}

	/**
	 * Whether the page's URL is ignored: the key comes from MODGATE_KEY
	 * and the URL not from MODGATE_URL. An admin of the site (on a
	 * multisite, of one site) could otherwise point the URL at any host
	 * and have "Test connection" send it the key of wp-config.php.
	 */
	public static function url_ignored(): bool {
		return self::from_constant( 'key' ) && ! self::from_constant( 'url' );
	}

	/**
	 * The origin of a URL (scheme, host and port, lower case), '' for
	 * none: a stored key belongs to the origin it was entered for.
	 *
	 * @param string $url A URL.
	 */
	public static function origin( string $url ): string {
		$p = wp_parse_url( $url );
		if ( ! is_array( $p ) || empty( $p['host'] ) ) {
			return '';
		}
		$scheme = strtolower( (string) ( $p['scheme'] ?? '' ) );
		$port   = (int) ( $p['port'] ?? ( 'https' === $scheme ? 443 : 80 ) );
		return $scheme . '://' . strtolower( (string) $p['host'] ) . ':' . $port;
	}

	/**
	 * Whether a URL sends the key in clear over a network: plain http://
	 * to a host that is not loopback (localhost, 127.0.0.0/8, ::1).
	 *
	 * @param string $url A URL.
	 */
	public static function cleartext( string $url ): bool {
		$p = wp_parse_url( $url );
		if ( ! is_array( $p ) || 'http' !== strtolower( (string) ( $p['scheme'] ?? '' ) ) ) {
			return false;
		}
		$host = strtolower( trim( (string) ( $p['host'] ?? '' ), '[]' ) );
		return ! ( 'localhost' === $host || '::1' === $host || 1 === preg_match( '/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/', $host ) );
	}

	/**
	 * One setting in force.
	 *
	 * @param string $name A key of defaults().
	 * @return string|int
	 */
	public static function get( string $name ) {
		$s = self::all();
		return $s[ $name ] ?? '';
	}

	/**
	 * Whether wp-config.php sets this one (the page then shows it read-only).
	 *
	 * @param string $name url, site or key.
	 */
	public static function from_constant( string $name ): bool {
		return isset( self::CONSTANTS[ $name ] ) && defined( self::CONSTANTS[ $name ] )
			&& is_scalar( constant( self::CONSTANTS[ $name ] ) ) && '' !== (string) constant( self::CONSTANTS[ $name ] );
	}

	/** Whether there is enough to call modgate: a URL, a site and a key. */
	public static function configured(): bool {
		$s = self::all();
		return '' !== $s['url'] && '' !== $s['site'] && '' !== $s['key'];
	}

	/**
	 * A key as the settings page may show it: never in full, only its
	 * last four characters (enough to tell two keys apart).
	 *
	 * @param string $key The key.
	 */
	public static function masked_key( string $key ): string {
		if ( '' === $key ) {
			return '';
		}
		return str_repeat( '•', 8 ) . ( strlen( $key ) > 12 ? substr( $key, -4 ) : '' );
	}
}
