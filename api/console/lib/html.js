// Preact with htm: `html` tagged templates instead of JSX, so the console
// needs no build step. Everything the pages import from the UI library
// comes through here.
import { h, render, Fragment, createContext } from '../vendor/preact.mjs';
import htm from '../vendor/htm.mjs';

export const html = htm.bind(h);
export { h, render, Fragment, createContext };
export {
  useState, useEffect, useMemo, useRef, useCallback, useReducer, useContext, useId, useLayoutEffect,
} from '../vendor/hooks.mjs';
